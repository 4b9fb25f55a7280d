//! Client authentication and permissions, built once from the options.
//!
//! [`Auth::authenticate`] checks a CONNECT's credentials the way nats-server does: an nkey
//! signature over the nonce, a user from the users list (password plain or bcrypt), the token,
//! or the single user/password; it returns the permissions of whoever it was. [`Perms`] answers
//! "may this client publish to / subscribe to / receive on this subject?" with small sublists
//! of the allow and deny patterns.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conf::auth::{Authorization, Permissions, ResponsePermission, SubjectPermission};
use crate::conf::Options;
use crate::proto::{nkey, subject, x509};
use crate::sublist::Sublist;

/// Allow and deny patterns for one direction.
pub struct SubjectRules {
    allow: Option<Sublist<u32>>,
    deny: Option<Sublist<u32>>,
    /// The deny patterns as written, to tell whether a wildcard subscription overlaps them.
    pub deny_patterns: Vec<String>,
}

/// Entries are `subject` or `subject queue` (a queue permission); subjects were validated when
/// the configuration was read.
fn compile_list(list: &[String]) -> Sublist<u32> {
    let mut sl = Sublist::new();
    for (i, s) in list.iter().enumerate() {
        let mut parts = s.split_whitespace();
        if let Some(subject) = parts.next() {
            let _ = sl.insert(
                subject.as_bytes(),
                parts.next().map(str::as_bytes),
                i as u32,
            );
        }
    }
    sl
}

/// Does `queue` appear among the matched queue entries (whose names may hold wildcards)?
fn queue_matches(queue: &[u8], groups: &[(Arc<[u8]>, Vec<u32>)]) -> bool {
    groups.iter().any(|(name, _)| {
        &**name == queue || (subject::has_wildcard(name) && subject::is_subset_match(queue, name))
    })
}

impl SubjectRules {
    fn new(p: &SubjectPermission) -> SubjectRules {
        SubjectRules {
            allow: p.allow.as_deref().map(compile_list),
            deny: p.deny.as_deref().map(compile_list),
            deny_patterns: p.deny.clone().unwrap_or_default(),
        }
    }

    /// Whether `subject` (which may hold wildcards, matched token for token), with `queue` for
    /// a queue subscription, is allowed — nats-server's rules, queue entries included.
    pub fn allows(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let mut allowed = true;
        if let Some(a) = &self.allow {
            let m = a.collect(subject);
            allowed = !m.psubs.is_empty();
            if let Some(q) = queue {
                if !m.qsubs.is_empty() {
                    allowed = queue_matches(q, &m.qsubs);
                }
            }
        }
        if allowed {
            if let Some(d) = &self.deny {
                let m = d.collect(subject);
                allowed = m.psubs.is_empty();
                if let Some(q) = queue {
                    if !m.qsubs.is_empty() {
                        allowed = !queue_matches(q, &m.qsubs);
                    }
                }
            }
        }
        allowed
    }

    /// Whether a message on the literal `subject` is denied.
    pub fn denies(&self, subject: &[u8]) -> bool {
        self.deny
            .as_ref()
            .is_some_and(|d| !d.collect(subject).psubs.is_empty())
    }
}

/// A user's compiled permissions.
pub struct Perms {
    pub publish: Option<SubjectRules>,
    pub subscribe: Option<SubjectRules>,
    pub response: Option<ResponsePermission>,
}

impl Perms {
    pub fn new(p: &Permissions) -> Perms {
        Perms {
            publish: p.publish.as_ref().map(SubjectRules::new),
            subscribe: p.subscribe.as_ref().map(SubjectRules::new),
            response: p.response.clone(),
        }
    }

    pub fn can_publish(&self, subject: &[u8]) -> bool {
        self.publish
            .as_ref()
            .is_none_or(|r| r.allows(subject, None))
    }

    pub fn can_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.subscribe
            .as_ref()
            .is_none_or(|r| r.allows(subject, queue))
    }

    /// A wildcard subscription wholly containing a denied subject switches on the delivery
    /// filter for the connection (nats-server 2.9 loads it only then).
    pub fn wildcard_needs_deny_filter(&self, subject_: &[u8]) -> bool {
        subject::has_wildcard(subject_)
            && self.subscribe.as_ref().is_some_and(|r| {
                r.deny_patterns
                    .iter()
                    .any(|d| subject::is_subset_match(d.as_bytes(), subject_))
            })
    }

    /// Whether a message on `subject` must be withheld from this client (a wildcard
    /// subscription can cover subjects its deny list names).
    pub fn denies_delivery(&self, subject: &[u8]) -> bool {
        self.subscribe.as_ref().is_some_and(|r| r.denies(subject))
    }

    pub fn has_subscribe_deny(&self) -> bool {
        self.subscribe
            .as_ref()
            .is_some_and(|r| !r.deny_patterns.is_empty())
    }
}

/// Who a client turned out to be.
pub struct Identity {
    /// For log lines: the user name or nkey.
    pub name: String,
    pub perms: Option<Arc<Perms>>,
    /// The user's account; `None` is the global account.
    pub account: Option<String>,
    /// How the client proved it: monitoring shows nkey users' issuer and hides tokens.
    pub method: Method,
}

/// How a client authenticated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Method {
    #[default]
    None,
    Password,
    Token,
    Nkey,
}

impl Identity {
    fn anonymous() -> Identity {
        Identity {
            method: Method::None,
            name: String::new(),
            perms: None,
            account: None,
        }
    }
}

/// Credentials a client presents in CONNECT.
#[derive(Default)]
pub struct Credentials<'a> {
    pub user: Option<&'a str>,
    pub pass: Option<&'a str>,
    pub token: Option<&'a str>,
    pub nkey: Option<&'a str>,
    pub sig: Option<&'a str>,
}

/// A configured user or nkey: its secret (empty for nkeys), permissions and account.
struct UserEntry {
    password: String,
    perms: Option<Arc<Perms>>,
    account: Option<String>,
}

impl UserEntry {
    fn identity(&self, name: &str, method: Method) -> Identity {
        Identity {
            method,
            name: name.to_string(),
            perms: self.perms.clone(),
            account: self.account.clone(),
        }
    }
}

/// The server's authentication configuration, compiled.
pub struct Auth {
    pub required: bool,
    pub timeout: Duration,
    /// Whether INFO carries a nonce (nkey users are configured).
    pub wants_nonce: bool,
    users: HashMap<String, UserEntry>,
    nkeys: HashMap<String, UserEntry>,
    single: Option<(String, String)>,
    token: Option<String>,
    no_auth_user: Option<String>,
}

fn compile_perms(p: &Option<Permissions>) -> Option<Arc<Perms>> {
    p.as_ref().map(|p| Arc::new(Perms::new(p)))
}

impl Auth {
    pub fn new(o: &Options) -> Auth {
        let a: &Authorization = &o.auth;
        let users = a
            .users
            .iter()
            .map(|u| {
                let e = UserEntry {
                    password: u.password.clone(),
                    perms: compile_perms(&u.permissions),
                    account: u.account.clone(),
                };
                (u.username.clone(), e)
            })
            .collect();
        let nkeys = a
            .nkeys
            .iter()
            .map(|n| {
                let e = UserEntry {
                    password: String::new(),
                    perms: compile_perms(&n.permissions),
                    account: n.account.clone(),
                };
                (n.nkey.clone(), e)
            })
            .collect();
        let single = a
            .user
            .clone()
            .map(|u| (u, a.password.clone().unwrap_or_default()));
        Auth {
            required: a.required(),
            timeout: o.auth_timeout(),
            wants_nonce: !a.nkeys.is_empty(),
            users,
            nkeys,
            single,
            token: a.token.clone(),
            no_auth_user: o.no_auth_user.clone(),
        }
    }

    /// Whether clients must send credentials before anything else: authentication is on and
    /// there is no `no_auth_user` to fall back on. (INFO's `auth_required` says the same.)
    pub fn expects_connect(&self) -> bool {
        self.required && self.no_auth_user.is_none()
    }

    /// Who a client is before (or without) credentials: the `no_auth_user`, if configured.
    pub fn guest(&self) -> Option<Identity> {
        let name = self.no_auth_user.as_ref()?;
        self.users
            .get(name)
            .or_else(|| self.nkeys.get(name))
            .map(|e| e.identity(name, Method::None))
    }

    /// `verify_and_map`: the user named by the client certificate, looked for as nats-server
    /// does (SAN emails, DNS names, URIs, the subject as a distinguished name, then its string
    /// forms); see `x509::CertIdentity::map_user`.
    pub fn authenticate_cert(&self, cert: &x509::CertIdentity) -> Result<Identity, String> {
        if !cert.has_identity() {
            return Err("User required in cert, none found".into());
        }
        let mut names: Vec<&str> = self.users.keys().map(String::as_str).collect();
        names.sort_unstable();
        match cert.map_user(&names, true) {
            Some(name) => Ok(self.users[name].identity(name, Method::None)),
            None => Err(cert.rdn_subject.clone()),
        }
    }

    /// Check credentials; `Err` carries the name to log ("" when none was given).
    pub fn authenticate(
        &self,
        c: &Credentials<'_>,
        nonce: Option<&[u8]>,
    ) -> Result<Identity, String> {
        if !self.required {
            return Ok(Identity::anonymous());
        }
        let given = |v: Option<&str>| v.is_some_and(|s| !s.is_empty());
        if !given(c.user) && !given(c.pass) && !given(c.token) && !given(c.nkey) {
            if let Some(g) = self.guest() {
                return Ok(g);
            }
        }
        if let Some(key) = c.nkey {
            if let Some(e) = self.nkeys.get(key) {
                let ok = match (nonce, c.sig) {
                    (Some(n), Some(sig)) => nkey::verify(key, n, sig),
                    _ => false,
                };
                return if ok {
                    Ok(e.identity(key, Method::Nkey))
                } else {
                    Err(key.into())
                };
            }
            if self.users.is_empty() && self.single.is_none() && self.token.is_none() {
                return Err(key.into());
            }
        }
        if !self.users.is_empty() {
            let Some(name) = c.user else {
                return Err(String::new());
            };
            return match self.users.get(name) {
                Some(e) if password_matches(&e.password, c.pass.unwrap_or("")) => {
                    Ok(e.identity(name, Method::Password))
                }
                _ => Err(name.to_string()),
            };
        }
        if let Some(token) = &self.token {
            return match c.token {
                Some(t) if password_matches(token, t) => Ok(Identity {
                    method: Method::Token,
                    ..Identity::anonymous()
                }),
                _ => Err(c.user.unwrap_or("").to_string()),
            };
        }
        if let Some((user, pass)) = &self.single {
            let ok = c.user == Some(user.as_str()) && password_matches(pass, c.pass.unwrap_or(""));
            return if ok {
                Ok(Identity {
                    method: Method::Password,
                    name: user.clone(),
                    perms: None,
                    account: None,
                })
            } else {
                Err(c.user.unwrap_or("").into())
            };
        }
        Err(String::new())
    }
}

/// Whether `s` looks like a bcrypt hash, as nats-server decides it (`$2a$`, `$2b$`, ... `$NN$`).
pub fn is_bcrypt(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 7 || !s.starts_with("$2") {
        return false;
    }
    let rest = match b[2] {
        b'a' | b'b' | b'x' | b'y' => &b[3..],
        _ => &b[2..],
    };
    rest.len() >= 4
        && rest[0] == b'$'
        && rest[1].is_ascii_digit()
        && rest[2].is_ascii_digit()
        && rest[3] == b'$'
}

/// Compare a configured secret (plain or bcrypt) with what the client sent, in constant time for
/// plain secrets.
pub fn password_matches(configured: &str, given: &str) -> bool {
    if is_bcrypt(configured) {
        return bcrypt::verify(given, configured).unwrap_or(false);
    }
    let (a, b) = (configured.as_bytes(), given.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= (a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0)) as usize;
    }
    diff == 0
}

/// Reply subjects a client may answer once although its publish permissions would not allow
/// them (`allow_responses`).
#[derive(Default)]
pub struct Replies {
    map: HashMap<Box<[u8]>, (i64, Option<Instant>)>,
}

impl Replies {
    /// Note a request delivered to the client with reply subject `reply`.
    pub fn add(&mut self, reply: &[u8], rp: &ResponsePermission) {
        let now = Instant::now();
        if self.map.len() >= 4096 {
            self.map.retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
        }
        let expires = (!rp.expires.is_zero()).then(|| now + rp.expires);
        self.map.insert(reply.into(), (0, expires));
    }

    /// Use one response to `subject`, if allowed.
    pub fn take(&mut self, subject: &[u8], rp: &ResponsePermission) -> bool {
        let now = Instant::now();
        let Some((n, exp)) = self.map.get_mut(subject) else {
            return false;
        };
        if exp.is_some_and(|e| e <= now) {
            self.map.remove(subject);
            return false;
        }
        *n += 1;
        if rp.max_msgs > 0 && *n >= rp.max_msgs {
            self.map.remove(subject);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::auth::User;

    fn opts_with(users: Vec<User>) -> Options {
        let mut o = Options::default();
        o.auth.users = users;
        o
    }

    #[test]
    fn bcrypt_detection() {
        assert!(is_bcrypt(
            "$2a$11$V1qrpBt8/SLfEBr4NJq4T.2mg8chx8.MTblUiTBOLV3MKDeAy.f7u"
        ));
        assert!(is_bcrypt("$2b$04$xxxx"));
        assert!(!is_bcrypt("$2a$1x$"));
        assert!(!is_bcrypt("plain"));
    }

    #[test]
    fn users_plain_and_bcrypt() {
        let hash = bcrypt::hash("pw2", 4).unwrap();
        let auth = Auth::new(&opts_with(vec![
            User {
                username: "a".into(),
                password: "pw1".into(),
                permissions: None,
                account: None,
            },
            User {
                username: "b".into(),
                password: hash,
                permissions: None,
                account: None,
            },
        ]));
        let ok = |u, p| {
            auth.authenticate(
                &Credentials {
                    user: Some(u),
                    pass: Some(p),
                    ..Default::default()
                },
                None,
            )
            .is_ok()
        };
        assert!(ok("a", "pw1"));
        assert!(!ok("a", "pw2"));
        assert!(ok("b", "pw2"));
        assert!(!ok("b", "pw1"));
        assert!(!ok("c", "pw1"));
        assert!(auth.authenticate(&Credentials::default(), None).is_err());
    }

    #[test]
    fn token_and_single_user() {
        let mut o = Options::default();
        o.auth.token = Some("s3cr3t".into());
        let auth = Auth::new(&o);
        assert!(auth
            .authenticate(
                &Credentials {
                    token: Some("s3cr3t"),
                    ..Default::default()
                },
                None
            )
            .is_ok());
        assert!(auth
            .authenticate(
                &Credentials {
                    token: Some("nope"),
                    ..Default::default()
                },
                None
            )
            .is_err());
        let mut o = Options::default();
        o.auth.user = Some("u".into());
        o.auth.password = Some("p".into());
        let auth = Auth::new(&o);
        assert!(auth
            .authenticate(
                &Credentials {
                    user: Some("u"),
                    pass: Some("p"),
                    ..Default::default()
                },
                None
            )
            .is_ok());
        assert!(auth
            .authenticate(
                &Credentials {
                    user: Some("u"),
                    pass: Some("x"),
                    ..Default::default()
                },
                None
            )
            .is_err());
    }

    #[test]
    fn permissions_allow_and_deny() {
        let p = Perms::new(&Permissions {
            publish: Some(SubjectPermission {
                allow: Some(vec!["foo.>".into()]),
                deny: Some(vec!["foo.secret".into()]),
            }),
            subscribe: Some(SubjectPermission {
                allow: None,
                deny: Some(vec!["admin.>".into()]),
            }),
            response: None,
        });
        assert!(p.can_publish(b"foo.bar"));
        assert!(!p.can_publish(b"foo.secret"));
        assert!(!p.can_publish(b"bar"));
        assert!(p.can_subscribe(b"anything", None));
        assert!(!p.can_subscribe(b"admin.x", None));
        // A wildcard subscription is allowed, but deliveries on denied subjects are withheld
        // once one wholly contains a denied subject.
        assert!(p.can_subscribe(b">", None));
        assert!(p.wildcard_needs_deny_filter(b">"));
        assert!(!p.wildcard_needs_deny_filter(b"*.x"));
        assert!(p.denies_delivery(b"admin.x"));
        assert!(!p.denies_delivery(b"public.x"));
    }

    #[test]
    fn queue_permissions() {
        let p = Perms::new(&Permissions {
            publish: None,
            subscribe: Some(SubjectPermission {
                allow: Some(vec!["work q1".into(), "jobs.>".into(), "jobs.x q.*".into()]),
                deny: Some(vec!["jobs.secret bad".into()]),
            }),
            response: None,
        });
        assert!(p.can_subscribe(b"work", Some(b"q1")));
        assert!(!p.can_subscribe(b"work", Some(b"q2")));
        assert!(!p.can_subscribe(b"work", None));
        assert!(p.can_subscribe(b"jobs.a", None));
        assert!(p.can_subscribe(b"jobs.x", Some(b"q.7")));
        assert!(!p.can_subscribe(b"jobs.x", Some(b"r")));
        assert!(!p.can_subscribe(b"jobs.secret", Some(b"bad")));
        assert!(p.can_subscribe(b"jobs.secret", Some(b"good")));
    }

    #[test]
    fn replies_are_single_use_by_default() {
        let rp = ResponsePermission::default();
        let mut r = Replies::default();
        r.add(b"_INBOX.1", &rp);
        assert!(r.take(b"_INBOX.1", &rp));
        assert!(!r.take(b"_INBOX.1", &rp));
        assert!(!r.take(b"_INBOX.2", &rp));
    }
}
