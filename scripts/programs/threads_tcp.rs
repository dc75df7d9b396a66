use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
fn main() {
    let counter = Arc::new(Mutex::new(0u64));
    let (tx, rx) = mpsc::channel::<u64>();
    for i in 0..4 {
        let c = counter.clone(); let tx = tx.clone();
        thread::spawn(move || loop { { let mut g = c.lock().unwrap(); *g += 1; } tx.send(i).unwrap(); thread::sleep(Duration::from_millis(3)); });
    }
    let l = TcpListener::bind("127.0.0.1:18095").unwrap();
    thread::spawn(move || for s in l.incoming() { let mut s = s.unwrap(); thread::spawn(move || { let mut b = [0u8; 64]; loop { let n = s.read(&mut b).unwrap(); if n == 0 { break; } s.write_all(&b[..n]).unwrap(); } }); });
    let mut cl = TcpStream::connect("127.0.0.1:18095").unwrap();
    let v: Vec<u64> = (0..2_000_000).collect();
    let mut n = 0u64;
    loop {
        while let Ok(_) = rx.try_recv() { n += 1; }
        cl.write_all(b"ping").unwrap(); let mut b = [0u8; 4]; cl.read_exact(&mut b).unwrap(); assert_eq!(&b, b"ping");
        let sum: u64 = v.iter().sum();
        println!("r {} {} {}", n, *counter.lock().unwrap(), sum);
        thread::sleep(Duration::from_millis(200));
    }
}
