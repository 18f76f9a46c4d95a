//! The "your own table" example (`examples/own_table/`): a hand-written `VersionedStore` over
//! an `accounts(id, owner, balance, version, updated_at)` table passes the whole
//! conformance kit, with the account's columns as the value.
//!
//! Needs `OPTIMIST_PG_URL`; skips loudly without it.
#![cfg(all(feature = "postgres", feature = "testkit"))]

#[path = "../examples/own_table/accounts.rs"]
#[allow(dead_code)]
mod accounts;
mod common;

use std::sync::Arc;

use accounts::{Account, AccountStore};
use optimist::testkit::{KitValue, run_all, unique_prefix};

impl KitValue for Account {
    fn from_counter(n: u64) -> Self {
        Account {
            owner: format!("owner-{n}"),
            balance: n as i64,
        }
    }
    fn counter(&self) -> u64 {
        assert_eq!(
            self.owner,
            format!("owner-{}", self.balance),
            "columns belong together"
        );
        self.balance as u64
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn the_own_table_store_passes_the_kit() {
    let Some(url) = common::env_url("OPTIMIST_PG_URL") else {
        return;
    };
    let table = common::unique_name("optimist_pg_helper_accounts");
    let store = Arc::new(AccountStore::connect(&url, &table).await.expect("connect"));
    run_all::<Account, _>(&store, &unique_prefix("accounts")).await;
    store.drop_table().await.expect("drop the test table");
}
