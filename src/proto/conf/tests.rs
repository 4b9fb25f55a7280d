use super::*;

fn kv(entries: &[Entry]) -> Vec<(String, Syn)> {
    entries
        .iter()
        .map(|e| match e {
            Entry::KeyValue { key, value, .. } => (key.clone(), value.value.clone()),
            Entry::Include { path, .. } => ("include".into(), Syn::Str(path.clone())),
        })
        .collect()
}

fn one(text: &str) -> Syn {
    let e = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(e.len(), 1, "{text:?}");
    kv(&e).remove(0).1
}

fn s(x: &str) -> Syn {
    Syn::Str(x.into())
}

#[test]
fn separators_and_comments() {
    let text = "# comment\n// another\na = 1\nb: 2\nc 3\nd=4; e=5, f: six # trailing\n  \"g h\": 7\n'i': 8\n";
    let got = kv(&parse(text.as_bytes()).unwrap());
    let want: Vec<(String, Syn)> = vec![
        ("a".into(), Syn::Int(1)),
        ("b".into(), Syn::Int(2)),
        ("c".into(), Syn::Int(3)),
        ("d".into(), Syn::Int(4)),
        ("e".into(), Syn::Int(5)),
        ("f".into(), s("six")),
        ("g h".into(), Syn::Int(7)),
        ("i".into(), Syn::Int(8)),
    ];
    assert_eq!(got, want);
}

#[test]
fn scalars() {
    assert_eq!(one("a: \"x\\ty\\n\\\"\\\\\\x41\""), s("x\ty\n\"\\A"));
    assert_eq!(one("a: 'raw \\n'"), s("raw \\n"));
    assert_eq!(one("a: bare_string"), s("bare_string"));
    assert_eq!(one("a: nats://host:4222"), s("nats://host:4222"));
    assert_eq!(one("a: 127.0.0.1:4222"), s("127.0.0.1:4222"));
    assert_eq!(one("a: 0.0.0.0"), s("0.0.0.0"));
    assert_eq!(one("a: -17"), Syn::Int(-17));
    assert_eq!(one("a: 2.5"), Syn::Float(2.5));
    for (t, b) in [
        ("true", true),
        ("FALSE", false),
        ("yes", true),
        ("No", false),
        ("on", true),
        ("off", false),
    ] {
        assert_eq!(one(&format!("a: {t}")), Syn::Bool(b));
    }
    assert_eq!(one("a: \"true\""), s("true"));
    assert_eq!(one("a: $VAR"), Syn::Var("VAR".into()));
    assert_eq!(
        one("a: 2016-05-04T18:53:41Z"),
        Syn::Datetime("2016-05-04T18:53:41Z".into())
    );
}

#[test]
fn size_suffixes() {
    for (t, n) in [
        ("1k", 1000),
        ("1K", 1000),
        ("1kb", 1024),
        ("2KB", 2048),
        ("1m", 1_000_000),
        ("1MB", 1024 * 1024),
        ("1g", 1_000_000_000),
        ("1GB", 1024 * 1024 * 1024),
    ] {
        assert_eq!(one(&format!("a: {t}")), Syn::Int(n), "{t}");
    }
    assert!(parse(b"a: 99999999999gb").is_err());
    // An unquoted duration is not a value (nats-server refuses it too).
    assert!(parse(b"a: 2s").is_err());
}

#[test]
fn arrays_and_maps() {
    let v = one("a: [1, two, \"three\"\n 4\n # c\n [5], {x: 6}]");
    let Syn::Array(items) = v else { panic!() };
    let vals: Vec<Syn> = items.into_iter().map(|i| i.value).collect();
    assert_eq!(vals[..4], [Syn::Int(1), s("two"), s("three"), Syn::Int(4)]);
    assert!(matches!(&vals[4], Syn::Array(x) if x.len() == 1));
    assert!(matches!(&vals[5], Syn::Map(x) if x.len() == 1));
    let v = one("m {\n  a: 1, b = 2; c 3\n  // comment\n  d: { e: [] }\n}");
    let Syn::Map(entries) = v else { panic!() };
    let keys: Vec<String> = kv(&entries).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["a", "b", "c", "d"]);
    assert_eq!(one("a: []"), Syn::Array(vec![]));
    assert_eq!(one("a {}"), Syn::Map(vec![]));
}

#[test]
fn block_strings() {
    assert_eq!(
        one("a (\nline one\n  line (two)\n)\n"),
        s("\nline one\n  line (two)")
    );
}

#[test]
fn includes() {
    let e = parse(b"include ./auth.conf\nport: 1\nm { include 'x.conf' }\ninclude \"y z.conf\"")
        .unwrap();
    assert_eq!(e.len(), 4);
    assert!(matches!(&e[0], Entry::Include { path, .. } if path == "./auth.conf"));
    assert!(matches!(&e[3], Entry::Include { path, .. } if path == "y z.conf"));
    match &e[2] {
        Entry::KeyValue {
            value: Item {
                value: Syn::Map(m), ..
            },
            ..
        } => {
            assert!(matches!(&m[0], Entry::Include { path, .. } if path == "x.conf"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn whole_file_in_braces() {
    assert_eq!(
        kv(&parse(b"{\n port: 4222\n}\n").unwrap()),
        vec![("port".into(), Syn::Int(4222))]
    );
}

#[test]
fn positions() {
    let e = parse(b"a: 1\n\n  bb: \"x\"\n").unwrap();
    match &e[1] {
        Entry::KeyValue { pos, value, .. } => {
            assert_eq!(*pos, Pos { line: 3, col: 3 });
            assert_eq!(value.pos, Pos { line: 3, col: 7 });
        }
        _ => panic!(),
    }
}

#[test]
fn errors_name_line_and_column() {
    for (text, line) in [
        ("a: [1, 2", 1),
        ("a {\n b: 1\n", 3),
        ("a: \"open", 1),
        ("a = \n", 1),
        ("x: 1\ny: [1,,2]", 2),
        ("a: 1 2", 1),
        ("a: .5", 1),
        ("a: \"\\q\"", 1),
        ("= 1", 1),
        ("a: (\nnever closed", 2),
    ] {
        let e = parse(text.as_bytes()).expect_err(text);
        assert_eq!(e.pos.line, line, "{text:?}: {e}");
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let text = format!("a: {}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(parse(text.as_bytes()).is_err());
}
