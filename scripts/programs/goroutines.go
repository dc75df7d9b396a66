// Goroutines on Go's own stacks, the garbage collector at work, timers and a
// channel pipeline; every line checks what it can. Go keeps its threads' and
// goroutines' stacks among other data in its heap, catches every signal and
// splits its heap mappings with madvise: each once broke a restart.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

func main() {
	runtime.GOMAXPROCS(4)
	keep := make([][]byte, 32)
	for i := range keep {
		keep[i] = make([]byte, 1<<20)
		for j := range keep[i] {
			keep[i][j] = byte(i*7 + j)
		}
	}
	var mu sync.Mutex
	counts := make([]int, 8)
	for w := 0; w < 8; w++ {
		go func(w int) {
			for {
				junk := make([]int, 512) // garbage for the collector
				junk[w] = w
				mu.Lock()
				counts[w] += 1 + junk[w] - w
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		}(w)
	}
	in, out := make(chan int), make(chan int)
	go func() {
		for v := range in {
			out <- v * v
		}
	}()
	for round := 1; ; round++ {
		time.Sleep(200 * time.Millisecond)
		for i := range keep {
			for j := 0; j < len(keep[i]); j += 4093 {
				if keep[i][j] != byte(i*7+j) {
					fmt.Printf("Error: round %d: byte %d of block %d changed\n", round, j, i)
					os.Exit(1)
				}
			}
		}
		in <- round
		if sq := <-out; sq != round*round {
			fmt.Printf("Error: round %d: the pipeline answered %d\n", round, sq)
			os.Exit(1)
		}
		mu.Lock()
		total := 0
		for _, c := range counts {
			total += c
		}
		mu.Unlock()
		runtime.GC()
		fmt.Printf("round %d ok, %d increments, %d goroutines\n", round, total, runtime.NumGoroutine())
	}
}
