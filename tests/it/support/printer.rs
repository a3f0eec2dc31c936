//! A label printer simulator: a TCP listener on a free local port that answers `~HS` host
//! status requests and records every byte of the job.

use packwright::label::status;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

/// A label printer on 127.0.0.1 for one connection: answers every `~HS` with a status (out of
/// labels when `paper_out`) and returns every byte it received.
pub fn printer(paper_out: bool) -> (String, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        let mut answered = 0;
        let mut buf = [0u8; 4096];
        loop {
            let n = match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            got.extend_from_slice(&buf[..n]);
            let asked = got.windows(3).filter(|w| w == b"~HS").count();
            while answered < asked {
                conn.write_all(&status::reply(paper_out, false, false))
                    .unwrap();
                answered += 1;
            }
        }
        got
    });
    (format!("tcp:127.0.0.1:{}", addr.port()), handle)
}
