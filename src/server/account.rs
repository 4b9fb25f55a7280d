//! Accounts: separate subject spaces. Every client belongs to one account (the global `$G`
//! unless its user is defined in `accounts {}`); subscriptions and deliveries never cross an
//! account boundary.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use super::shared::SubRef;
use crate::sublist::Sublist;

/// The account of users outside `accounts {}`.
pub const GLOBAL: &str = "$G";

pub struct Account {
    pub name: String,
    /// Small dense number, for per-worker caches.
    pub id: usize,
    pub sublist: RwLock<Sublist<SubRef>>,
    pub generation: Arc<AtomicU64>,
}

impl Account {
    fn new(name: &str, id: usize) -> Account {
        let sublist = Sublist::new();
        Account {
            name: name.to_string(),
            id,
            generation: sublist.generation(),
            sublist: RwLock::new(sublist),
        }
    }
}

/// All accounts by name.
pub struct Accounts {
    map: RwLock<HashMap<String, Arc<Account>>>,
    global: Arc<Account>,
}

impl Accounts {
    pub fn new(names: &[String]) -> Accounts {
        let global = Arc::new(Account::new(GLOBAL, 0));
        let a = Accounts {
            map: RwLock::new(HashMap::new()),
            global: global.clone(),
        };
        a.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(GLOBAL.to_string(), global);
        a.ensure(names);
        a
    }

    /// Add accounts not known yet (configuration reload); existing ones keep their state.
    pub fn ensure(&self, names: &[String]) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for n in names {
            if !map.contains_key(n) {
                let id = map.len();
                map.insert(n.clone(), Arc::new(Account::new(n, id)));
            }
        }
    }

    pub fn global(&self) -> Arc<Account> {
        self.global.clone()
    }

    /// The account called `name`; `None` means the global one.
    pub fn get(&self, name: Option<&str>) -> Option<Arc<Account>> {
        match name {
            None => Some(self.global.clone()),
            Some(n) => self
                .map
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(n)
                .cloned(),
        }
    }
}
