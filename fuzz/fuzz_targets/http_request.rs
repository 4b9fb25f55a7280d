//! Fuzz the monitoring HTTP request-head parser: never panics; a complete head parses the same
//! from exactly its own bytes, and no shorter prefix of it is complete; its query parameters
//! decode without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rnatsd::proto::http::{parse, query_value, Limits, Parsed};

fuzz_target!(|data: &[u8]| {
    let small = Limits { max_request_line: 64, max_headers: 4, max_head: 256 };
    for lim in [Limits::default(), small] {
        if let Ok(Parsed::Complete(req, n)) = parse(data, &lim) {
            assert!(n <= data.len() && n <= lim.max_head);
            for key in ["sort", "subs", "callback", "test", "limit", "cid"] {
                if let Some(v) = query_value(req.query, key) {
                    assert!(v.len() <= req.query.len() * 3);
                }
            }
            match parse(&data[..n], &lim) {
                Ok(Parsed::Complete(again, m)) => assert!(m == n && again == req),
                other => panic!("own bytes gave {other:?}"),
            }
            for k in [0, n / 2, n.saturating_sub(1)] {
                if k < n {
                    assert!(!matches!(parse(&data[..k], &lim), Ok(Parsed::Complete(..))), "prefix {k} complete");
                }
            }
        }
    }
});
