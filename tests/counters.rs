//! Connection and server counters (what /varz and /connz will report), checked on an in-process
//! server after known traffic.

mod common;

use common::Client;
use rnatsd::conf::Options;
use rnatsd::server;

fn start() -> server::Handle {
    let opts = Options {
        host: "127.0.0.1".into(),
        port: None,
        workers: 2,
        ..Options::default()
    };
    server::start(opts).expect("start in-process server")
}

#[test]
fn message_and_byte_counters() {
    let h = start();
    let port = h.server.addr.port();
    let mut sub = Client::quiet(port);
    sub.send("SUB c.* 1\r\nSUB c.> 2\r\n");
    sub.flush();
    let mut publ = Client::quiet(port);
    for _ in 0..10 {
        publ.send("PUB c.x 5\r\nhello\r\n");
    }
    publ.send("PUB nobody 3\r\nabc\r\n");
    publ.flush();
    for _ in 0..20 {
        sub.read_msg();
    }
    sub.flush();
    // Server totals: 11 published (53 bytes), 20 delivered (100 bytes).
    assert_eq!(h.server.stats.snapshot(), [11, 53, 20, 100]);
    let clients = h.server.clients.lock().unwrap();
    let mut per: Vec<[u64; 4]> = clients.values().map(|c| c.stats.snapshot()).collect();
    per.sort();
    assert_eq!(per, vec![[0, 0, 20, 100], [11, 53, 0, 0]]);
    drop(clients);
    assert_eq!(
        h.server
            .num_clients
            .load(std::sync::atomic::Ordering::Acquire),
        2
    );
    assert_eq!(
        h.server.accounts.global().sublist.read().unwrap().count(),
        2
    );
    drop(sub);
    drop(publ);
    h.shutdown();
}

#[test]
fn subscriptions_are_removed_on_close() {
    let h = start();
    let port = h.server.addr.port();
    {
        let mut c = Client::quiet(port);
        for i in 0..100 {
            c.send(&format!("SUB s.{i}.* {i}\r\nSUB q.> grp {}\r\n", 1000 + i));
        }
        c.flush();
        assert_eq!(
            h.server.accounts.global().sublist.read().unwrap().count(),
            200
        );
        c.send("UNSUB 5\r\nUNSUB 1005\r\n");
        c.flush();
        assert_eq!(
            h.server.accounts.global().sublist.read().unwrap().count(),
            198
        );
    }
    // After the client goes, the trie is empty again (pruned).
    let mut probe = Client::quiet(port);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !h
        .server
        .accounts
        .global()
        .sublist
        .read()
        .unwrap()
        .is_pruned()
    {
        assert!(std::time::Instant::now() < deadline, "subscriptions leaked");
        probe.flush();
    }
    assert_eq!(
        h.server.accounts.global().sublist.read().unwrap().count(),
        0
    );
    drop(probe);
    h.shutdown();
}
