import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
public class V {
  public static void main(String[] a) throws Exception {
    AtomicLong c = new AtomicLong();
    ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor();
    for (int t = 0; t < 1000; t++) ex.submit(() -> { while (true) { c.incrementAndGet(); Thread.sleep(10); } });
    for (int i = 0;; i++) { System.out.println("v " + i + " " + c.get()); Thread.sleep(200); }
  }
}
