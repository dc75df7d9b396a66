// Threads, a mutex, a channel, and an echo server with its client: over TCP
// (argument "tcp"; restoring a connection needs CAP_NET_ADMIN) or a UNIX socket.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

fn echo<S: Read + Write>(mut s: S) {
    let mut b = [0u8; 64];
    loop {
        let n = s.read(&mut b).unwrap();
        if n == 0 { break; }
        s.write_all(&b[..n]).unwrap();
    }
}

fn main() {
    let tcp = std::env::args().nth(1).as_deref() == Some("tcp");
    let counter = Arc::new(Mutex::new(0u64));
    let (tx, rx) = mpsc::channel::<u64>();
    for i in 0..4 {
        let c = counter.clone();
        let tx = tx.clone();
        thread::spawn(move || loop {
            *c.lock().unwrap() += 1;
            tx.send(i).unwrap();
            thread::sleep(Duration::from_millis(3));
        });
    }
    let mut client: Box<dyn ReadWrite> = if tcp {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let at = l.local_addr().unwrap();
        thread::spawn(move || for s in l.incoming() { let s = s.unwrap(); thread::spawn(move || echo(s)); });
        Box::new(TcpStream::connect(at).unwrap())
    } else {
        let path = format!("echo-{}.sock", std::process::id());
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).unwrap();
        thread::spawn(move || for s in l.incoming() { let s = s.unwrap(); thread::spawn(move || echo(s)); });
        Box::new(UnixStream::connect(&path).unwrap())
    };
    let v: Vec<u64> = (0..2_000_000).collect();
    let mut n = 0u64;
    loop {
        while rx.try_recv().is_ok() { n += 1; }
        client.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        client.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ping");
        let sum: u64 = v.iter().sum();
        assert_eq!(sum, 1_999_999_000_000);
        println!("r {} {} {}", n, *counter.lock().unwrap(), sum);
        thread::sleep(Duration::from_millis(200));
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
