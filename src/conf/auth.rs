//! The `authorization { ... }` block: a single user or token, a list of users (passwords plain or
//! bcrypt) and nkey users, each with optional publish/subscribe permissions, default
//! permissions, and the authentication timeout. Key names and shapes follow nats-server 2.9.

use std::time::Duration;

use super::file::{Kind, Value};
use super::keys::{seconds, string, unknown_in};
use crate::proto::subject::is_valid_subject;

/// Allowed and denied subjects for one direction. `None` lists mean "no rule of that kind".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SubjectPermission {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
}

/// Publishing to the reply subjects of received requests, `max_msgs` times within `expires`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponsePermission {
    pub max_msgs: i64,
    pub expires: Duration,
}

impl Default for ResponsePermission {
    fn default() -> Self {
        ResponsePermission {
            max_msgs: 1,
            expires: Duration::from_secs(120),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Permissions {
    pub publish: Option<SubjectPermission>,
    pub subscribe: Option<SubjectPermission>,
    pub response: Option<ResponsePermission>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub username: String,
    pub password: String,
    pub permissions: Option<Permissions>,
    /// The account the user belongs to; `None` is the global account `$G`.
    pub account: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NkeyUser {
    pub nkey: String,
    pub permissions: Option<Permissions>,
    pub account: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Authorization {
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub timeout: Duration,
    /// `timeout` was given; otherwise it follows the TLS timeout when TLS is on.
    pub timeout_set: bool,
    pub users: Vec<User>,
    pub nkeys: Vec<NkeyUser>,
}

/// nats-server's default authentication timeout.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(2);

impl Default for Authorization {
    fn default() -> Self {
        Authorization {
            user: None,
            password: None,
            token: None,
            timeout: AUTH_TIMEOUT,
            timeout_set: false,
            users: Vec::new(),
            nkeys: Vec::new(),
        }
    }
}

impl Authorization {
    /// Whether clients must authenticate.
    pub fn required(&self) -> bool {
        self.user.is_some()
            || self.token.is_some()
            || !self.users.is_empty()
            || !self.nkeys.is_empty()
    }
}

/// Parse an `authorization` block into `auth`, pushing errors.
pub fn parse_authorization(v: &Value, auth: &mut Authorization, errors: &mut Vec<String>) {
    let Kind::Map(m) = &v.kind else {
        errors.push(format!(
            "{}: \"authorization\" must be a map, not {}",
            v.at,
            v.type_name()
        ));
        return;
    };
    let mut defaults: Option<Permissions> = None;
    for e in &m.entries {
        let v = &e.value;
        let r = match e.key.to_ascii_lowercase().as_str() {
            "user" | "username" => string(v, &e.key).map(|s| auth.user = Some(s)),
            "pass" | "password" => string(v, &e.key).map(|s| auth.password = Some(s)),
            "token" => string(v, &e.key).map(|s| auth.token = Some(s)),
            "timeout" => seconds(v, &e.key).map(|d| {
                auth.timeout = d;
                auth.timeout_set = true;
            }),
            "users" => parse_users(v, auth, errors),
            "default_permission" | "default_permissions" | "permissions" => {
                defaults = parse_permissions(v, errors);
                Ok(())
            }
            _ => unknown_in(e),
        };
        if let Err(msg) = r {
            errors.push(msg);
        }
    }
    if let Some(d) = defaults {
        for u in &mut auth.users {
            u.permissions.get_or_insert_with(|| d.clone());
        }
        for u in &mut auth.nkeys {
            u.permissions.get_or_insert_with(|| d.clone());
        }
    }
}

fn parse_users(
    v: &Value,
    auth: &mut Authorization,
    errors: &mut Vec<String>,
) -> Result<(), String> {
    parse_users_into(v, auth, None, errors)
}

/// Users of `account` (`None`: the global account) from a `users` array.
pub fn parse_users_into(
    v: &Value,
    auth: &mut Authorization,
    account: Option<String>,
    errors: &mut Vec<String>,
) -> Result<(), String> {
    let Kind::Array(items) = &v.kind else {
        return Err(format!(
            "{}: Expected users field to be an array, got {}",
            v.at,
            v.type_name()
        ));
    };
    for item in items {
        let Kind::Map(um) = &item.kind else {
            errors.push(format!(
                "{}: Expected user entry to be a map/struct, got {}",
                item.at,
                item.type_name()
            ));
            continue;
        };
        let (mut user, mut pass, mut nkey, mut perms) = (None, None, None, None);
        for e in &um.entries {
            let v = &e.value;
            let r = match e.key.to_ascii_lowercase().as_str() {
                "user" | "username" => string(v, &e.key).map(|s| user = Some(s)),
                "pass" | "password" => string(v, &e.key).map(|s| pass = Some(s)),
                "nkey" => string(v, &e.key).map(|s| nkey = Some(s)),
                "permission" | "permissions" | "authorization" => {
                    perms = parse_permissions(v, errors);
                    Ok(())
                }
                _ => unknown_in(e),
            };
            if let Err(msg) = r {
                errors.push(msg);
            }
        }
        match (nkey, user) {
            (Some(nkey), None) if pass.is_none() => {
                if !crate::proto::nkey::is_valid_user_key(&nkey) {
                    errors.push(format!("{}: Not a valid public nkey for a user", item.at));
                }
                auth.nkeys.push(NkeyUser {
                    nkey,
                    permissions: perms,
                    account: account.clone(),
                });
            }
            (Some(_), _) => errors.push(format!(
                "{}: Nkey users do not take usernames or passwords",
                item.at
            )),
            (None, Some(username)) => auth.users.push(User {
                username,
                password: pass.unwrap_or_default(),
                permissions: perms,
                account: account.clone(),
            }),
            (None, None) => errors.push(format!("{}: User entry requires a user", item.at)),
        }
    }
    Ok(())
}

/// `permissions { publish, subscribe, allow_responses }`.
pub fn parse_permissions(v: &Value, errors: &mut Vec<String>) -> Option<Permissions> {
    let Kind::Map(m) = &v.kind else {
        errors.push(format!(
            "{}: Expected permissions to be a map/struct, got {}",
            v.at,
            v.type_name()
        ));
        return None;
    };
    let mut p = Permissions::default();
    for e in &m.entries {
        let v = &e.value;
        match e.key.to_ascii_lowercase().as_str() {
            "pub" | "publish" | "import" => p.publish = subject_permission(v, errors),
            "sub" | "subscribe" | "export" => p.subscribe = subject_permission(v, errors),
            "publish_allow_responses" | "allow_responses" => {
                p.response = response_permission(v, errors);
            }
            _ if e.used_as_variable => {}
            _ => errors.push(format!(
                "{}: Unknown field \"{}\" parsing permissions",
                e.at, e.key
            )),
        }
    }
    if p.response.is_some() {
        // Allowing responses turns off the blanket publish allow.
        let publish = p.publish.get_or_insert_with(SubjectPermission::default);
        publish.allow.get_or_insert_with(Vec::new);
    }
    Some(p)
}

fn subject_permission(v: &Value, errors: &mut Vec<String>) -> Option<SubjectPermission> {
    match &v.kind {
        Kind::Map(m) => {
            if m.entries.is_empty() {
                return None;
            }
            let mut sp = SubjectPermission::default();
            for e in &m.entries {
                match e.key.to_ascii_lowercase().as_str() {
                    "allow" => sp.allow = subjects(&e.value, errors),
                    "deny" => sp.deny = subjects(&e.value, errors),
                    _ if e.used_as_variable => {}
                    _ => errors.push(format!(
                        "{}: Unknown field name \"{}\" parsing subject permissions, only 'allow' or 'deny' are permitted",
                        e.at, e.key
                    )),
                }
            }
            Some(sp)
        }
        _ => subjects(v, errors).map(|allow| SubjectPermission {
            allow: Some(allow),
            deny: None,
        }),
    }
}

fn subjects(v: &Value, errors: &mut Vec<String>) -> Option<Vec<String>> {
    let list: Vec<String> = match &v.kind {
        Kind::Str(s) => vec![s.clone()],
        Kind::Array(items) => {
            let mut out = Vec::new();
            for i in items {
                match &i.kind {
                    Kind::Str(s) => out.push(s.clone()),
                    _ => {
                        errors.push(format!(
                            "{}: Subject in permissions array cannot be cast to string",
                            i.at
                        ));
                        return None;
                    }
                }
            }
            out
        }
        _ => {
            errors.push(format!(
                "{}: Expected subject permissions to be a subject, or array of subjects, got {}",
                v.at,
                v.type_name()
            ));
            return None;
        }
    };
    // An entry is a subject, or a subject and a queue name (a queue permission).
    let valid = |s: &String| {
        let parts: Vec<&str> = s.split_whitespace().collect();
        matches!(parts.len(), 1 | 2) && is_valid_subject(parts[0].as_bytes())
    };
    if let Some(bad) = list.iter().find(|s| !valid(s)) {
        errors.push(format!(
            "{}: subject \"{}\" is not a valid subject",
            v.at, bad
        ));
        return None;
    }
    Some(list)
}

fn response_permission(v: &Value, errors: &mut Vec<String>) -> Option<ResponsePermission> {
    match &v.kind {
        Kind::Bool(true) => Some(ResponsePermission::default()),
        Kind::Bool(false) => None,
        Kind::Map(m) => {
            let mut rp = ResponsePermission::default();
            for e in &m.entries {
                let v = &e.value;
                match (e.key.to_ascii_lowercase().as_str(), &v.kind) {
                    ("max" | "max_msgs" | "max_messages" | "max_responses", Kind::Int(n)) => {
                        if *n != 0 {
                            rp.max_msgs = *n;
                        }
                    }
                    ("expires" | "expiration" | "ttl", Kind::Str(s)) => {
                        match super::parse_duration(s) {
                            Some(d) if !d.is_zero() => rp.expires = d,
                            Some(_) => {}
                            None => {
                                errors.push(format!(
                                    "{}: error parsing expires: invalid duration {:?}",
                                    v.at, s
                                ));
                                return None;
                            }
                        }
                    }
                    ("expires" | "expiration" | "ttl", _) => {
                        errors.push(format!(
                            "{}: error parsing expires, not a duration string",
                            v.at
                        ));
                        return None;
                    }
                    _ if e.used_as_variable => {}
                    _ => errors.push(format!(
                        "{}: Unknown field \"{}\" parsing permissions",
                        e.at, e.key
                    )),
                }
            }
            Some(rp)
        }
        _ => {
            errors.push(format!(
                "{}: error parsing response permissions, expected a boolean or a map",
                v.at
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::file::load_str;
    use std::path::Path;

    fn auth_of(text: &str) -> (Authorization, Vec<String>) {
        let m = load_str(text, "a.conf", Path::new(".")).unwrap();
        let mut a = Authorization::default();
        let mut errors = Vec::new();
        parse_authorization(m.get("authorization").unwrap(), &mut a, &mut errors);
        (a, errors)
    }

    #[test]
    fn single_user_and_token() {
        let (a, e) = auth_of("authorization { user: derek, password: \"s3cr3t\", timeout: 0.5 }");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(
            (a.user.as_deref(), a.password.as_deref()),
            (Some("derek"), Some("s3cr3t"))
        );
        assert_eq!(a.timeout, Duration::from_millis(500));
        assert!(a.required());
        let (a, _) = auth_of("authorization { token: abc }");
        assert_eq!(a.token.as_deref(), Some("abc"));
    }

    #[test]
    fn users_with_permissions_and_defaults() {
        let (a, e) = auth_of(
            "authorization {\n default_permissions: { publish: \"public.>\" }\n users = [\n\
             {user: alice, password: a, permissions: {publish: [\"a.>\", \"b\"], subscribe: {allow: [\"x.>\"], deny: \"x.secret\"}}}\n\
             {user: bob, password: b}\n\
             {user: carol, password: c, permissions: {allow_responses: {max: 3, expires: \"1s\"}}}\n ]\n}",
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(a.users.len(), 3);
        let alice = a.users[0].permissions.as_ref().unwrap();
        assert_eq!(
            alice.publish.as_ref().unwrap().allow,
            Some(vec!["a.>".to_string(), "b".to_string()])
        );
        let sub = alice.subscribe.as_ref().unwrap();
        assert_eq!(
            (sub.allow.clone(), sub.deny.clone()),
            (Some(vec!["x.>".into()]), Some(vec!["x.secret".into()]))
        );
        let bob = a.users[1].permissions.as_ref().unwrap();
        assert_eq!(
            bob.publish.as_ref().unwrap().allow,
            Some(vec!["public.>".to_string()])
        );
        let carol = a.users[2].permissions.as_ref().unwrap();
        assert_eq!(
            carol.response,
            Some(ResponsePermission {
                max_msgs: 3,
                expires: Duration::from_secs(1)
            })
        );
        assert_eq!(carol.publish.as_ref().unwrap().allow, Some(vec![]));
    }

    #[test]
    fn errors_are_collected() {
        let (_, e) = auth_of(
            "authorization { bogus: 1, users: [ {password: x}, {user: u, color: red}, \
             {user: v, permissions: {publish: \"a..b\"}}, {nkey: NOTAKEY} ] }",
        );
        assert_eq!(e.len(), 5, "{e:?}");
        assert!(e[0].contains("unknown field \"bogus\""), "{e:?}");
        assert!(
            e.iter().any(|x| x.contains("User entry requires a user")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|x| x.contains("unknown field \"color\"")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|x| x.contains("\"a..b\" is not a valid subject")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|x| x.contains("Not a valid public nkey")),
            "{e:?}"
        );
    }
}

/// What an account shares or takes: a stream (messages flow to the importer) or a service
/// (requests flow to the exporter, replies back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Stream,
    Service,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Export {
    pub account: String,
    pub kind: LinkKind,
    pub subject: String,
    /// Only these accounts may import; `None` means any.
    pub accounts: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    /// The importing account.
    pub account: String,
    pub kind: LinkKind,
    /// The exporting account and subject.
    pub from: String,
    pub subject: String,
    /// Streams: prepended to the subject in the importing account.
    pub prefix: Option<String>,
    /// The subject in the importing account (services; literal stream imports).
    pub to: Option<String>,
}

/// The `accounts { NAME: { users: [...], exports: [...], imports: [...] } }` block.
pub fn parse_accounts(v: &Value, o: &mut super::Options, errors: &mut Vec<String>) {
    let Kind::Map(m) = &v.kind else {
        errors.push(format!(
            "{}: Expected map entries for accounts, got {}",
            v.at,
            v.type_name()
        ));
        return;
    };
    for e in &m.entries {
        if o.accounts.contains(&e.key) {
            errors.push(format!("{}: duplicate account \"{}\"", e.at, e.key));
            continue;
        }
        o.accounts.push(e.key.clone());
        let Kind::Map(am) = &e.value.kind else {
            // `accounts { A: {}, B }` style entries without a body are plain names.
            if !matches!(e.value.kind, Kind::Str(_)) {
                errors.push(format!(
                    "{}: Expected map entries for account \"{}\"",
                    e.value.at, e.key
                ));
            }
            continue;
        };
        for ae in &am.entries {
            let r = match ae.key.to_ascii_lowercase().as_str() {
                "users" => parse_users_into(&ae.value, &mut o.auth, Some(e.key.clone()), errors),
                "exports" => each_map(&ae.value, errors, |m, at, errors| {
                    parse_export(&e.key, m, at, &mut o.exports, errors)
                }),
                "imports" => each_map(&ae.value, errors, |m, at, errors| {
                    parse_import(&e.key, m, at, &mut o.imports, errors)
                }),
                "jetstream" | "mappings" | "limits" | "default_permissions" => Err(format!(
                    "{}: account \"{}\" is not yet supported by rnatsd",
                    ae.at, ae.key
                )),
                _ => unknown_in(ae),
            };
            if let Err(msg) = r {
                errors.push(msg);
            }
        }
    }
    check_links(o, errors);
}

fn each_map(
    v: &Value,
    errors: &mut Vec<String>,
    mut f: impl FnMut(&super::file::Map, &super::file::At, &mut Vec<String>),
) -> Result<(), String> {
    let Kind::Array(items) = &v.kind else {
        return Err(format!(
            "{}: expected an array of maps, got {}",
            v.at,
            v.type_name()
        ));
    };
    for i in items {
        match &i.kind {
            Kind::Map(m) => f(m, &i.at, errors),
            _ => errors.push(format!("{}: expected a map, got {}", i.at, i.type_name())),
        }
    }
    Ok(())
}

fn subject_of(v: &Value, errors: &mut Vec<String>) -> Option<String> {
    match &v.kind {
        Kind::Str(s) if is_valid_subject(s.as_bytes()) => Some(s.clone()),
        Kind::Str(s) => {
            errors.push(format!(
                "{}: subject \"{}\" is not a valid subject",
                v.at, s
            ));
            None
        }
        _ => {
            errors.push(format!(
                "{}: expected a subject, got {}",
                v.at,
                v.type_name()
            ));
            None
        }
    }
}

fn parse_export(
    account: &str,
    m: &super::file::Map,
    at: &super::file::At,
    out: &mut Vec<Export>,
    errors: &mut Vec<String>,
) {
    let mut ex: Option<(LinkKind, String)> = None;
    let mut accounts = None;
    for e in &m.entries {
        match e.key.to_ascii_lowercase().as_str() {
            "stream" => ex = subject_of(&e.value, errors).map(|s| (LinkKind::Stream, s)),
            "service" => ex = subject_of(&e.value, errors).map(|s| (LinkKind::Service, s)),
            "accounts" => match &e.value.kind {
                Kind::Array(items) => {
                    accounts = Some(
                        items
                            .iter()
                            .filter_map(|i| string(i, "accounts").ok())
                            .collect(),
                    );
                }
                _ => errors.push(format!(
                    "{}: \"accounts\" must be an array of account names",
                    e.value.at
                )),
            },
            "response_type" | "response_threshold" | "latency" | "description" | "info_url" => {
                errors.push(format!(
                    "{}: export \"{}\" is not yet supported by rnatsd",
                    e.at, e.key
                ))
            }
            _ => {
                if let Err(msg) = unknown_in(e) {
                    errors.push(msg);
                }
            }
        }
    }
    match ex {
        Some((kind, subject)) => out.push(Export {
            account: account.to_string(),
            kind,
            subject,
            accounts,
        }),
        None => errors.push(format!(
            "{at}: export needs a \"stream\" or a \"service\" subject"
        )),
    }
}

fn parse_import(
    account: &str,
    m: &super::file::Map,
    at: &super::file::At,
    out: &mut Vec<Import>,
    errors: &mut Vec<String>,
) {
    let mut src: Option<(LinkKind, String, String)> = None;
    let (mut prefix, mut to) = (None, None);
    for e in &m.entries {
        let key = e.key.to_ascii_lowercase();
        match key.as_str() {
            "stream" | "service" => {
                let kind = if key == "stream" {
                    LinkKind::Stream
                } else {
                    LinkKind::Service
                };
                let Kind::Map(sm) = &e.value.kind else {
                    errors.push(format!("{}: expected {{account, subject}}", e.value.at));
                    continue;
                };
                let acc = sm.get("account").and_then(|v| string(v, "account").ok());
                let sub = sm.get("subject").and_then(|v| subject_of(v, errors));
                for se in &sm.entries {
                    if !matches!(se.key.as_str(), "account" | "subject") {
                        if let Err(msg) = unknown_in(se) {
                            errors.push(msg);
                        }
                    }
                }
                match (acc, sub) {
                    (Some(a), Some(s)) => src = Some((kind, a, s)),
                    _ => errors.push(format!(
                        "{}: import needs an account and a subject",
                        e.value.at
                    )),
                }
            }
            "prefix" => prefix = string(&e.value, "prefix").map_err(|m| errors.push(m)).ok(),
            "to" => to = subject_of(&e.value, errors),
            "share" => errors.push(format!(
                "{}: import \"share\" is not yet supported by rnatsd",
                e.at
            )),
            _ => {
                if let Err(msg) = unknown_in(e) {
                    errors.push(msg);
                }
            }
        }
    }
    match src {
        Some((kind, from, subject)) => out.push(Import {
            account: account.to_string(),
            kind,
            from,
            subject,
            prefix,
            to,
        }),
        None => errors.push(format!("{at}: import needs a \"stream\" or a \"service\"")),
    }
}

/// Every import must name an account that exports a matching subject of the same kind to it.
fn check_links(o: &super::Options, errors: &mut Vec<String>) {
    for im in &o.imports {
        if !o.accounts.contains(&im.from) {
            errors.push(format!(
                "account \"{}\" imports from unknown account \"{}\"",
                im.account, im.from
            ));
            continue;
        }
        let allowed = o.exports.iter().any(|ex| {
            ex.account == im.from
                && ex.kind == im.kind
                && crate::proto::subject::is_subset_match(
                    im.subject.as_bytes(),
                    ex.subject.as_bytes(),
                )
                && ex.accounts.as_ref().is_none_or(|a| a.contains(&im.account))
        });
        if !allowed {
            let kind = if im.kind == LinkKind::Stream {
                "stream"
            } else {
                "service"
            };
            errors.push(format!(
                "Error adding {kind} import \"{}\": {kind} import not authorized",
                im.subject
            ));
        }
    }
}
