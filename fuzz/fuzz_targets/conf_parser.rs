//! Fuzz the configuration parser: any bytes either parse or give a positioned error, never a
//! panic or unbounded recursion; parsed text also goes through variable resolution and the
//! mapping onto options (skipped when it includes files, to keep runs hermetic).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rnatsd::conf::{file, keys, Options};
use rnatsd::proto::conf::{parse, Entry, Item, Syn};

fn has_include(entries: &[Entry]) -> bool {
    entries.iter().any(|e| match e {
        Entry::Include { .. } => true,
        Entry::KeyValue { value, .. } => item_has_include(value),
    })
}

fn item_has_include(i: &Item) -> bool {
    match &i.value {
        Syn::Map(m) => has_include(m),
        Syn::Array(a) => a.iter().any(item_has_include),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
    match parse(data) {
        Err(e) => assert!(e.pos.line >= 1 && e.pos.line <= lines, "{e:?}"),
        Ok(entries) => {
            if has_include(&entries) {
                return;
            }
            let text = match std::str::from_utf8(data) {
                Ok(t) => t,
                Err(_) => return,
            };
            if let Ok(map) = file::load_str(text, "fuzz.conf", std::path::Path::new(".")) {
                let mut o = Options::default();
                let _ = keys::apply(&map, &mut o);
            }
        }
    }
});
