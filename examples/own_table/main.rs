//! Guarding a table you already have: `accounts(id, owner, balance, version, updated_at)`
//! behind [`optimist::VersionedStore`], so the HTTP layer's preconditions, the retry helper
//! and the conformance kit work on it unchanged. The store is in `accounts.rs`; the test
//! `tests/own_table.rs` runs the conformance kit against it.
//!
//! ```text
//! OPTIMIST_PG_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run --example own_table --features postgres
//! ```

mod accounts;

use std::convert::Infallible;

use accounts::{Account, AccountStore};
use optimist::{Expect, RetryPolicy, StoreError, VersionedStore, update_with};

#[tokio::main]
async fn main() -> Result<(), StoreError> {
    let Ok(url) = std::env::var("OPTIMIST_PG_URL") else {
        eprintln!("set OPTIMIST_PG_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run this");
        return Ok(());
    };
    let table = format!("optimist_pg_helper_accounts_{}", std::process::id());
    let store = AccountStore::connect(&url, &table).await?;

    let ann = Account {
        owner: "ann".into(),
        balance: 100,
    };
    let created = store.put("acct-1", ann, Expect::Absent).await?;
    println!("created acct-1 at {}", created.version.etag());

    // A deposit as a read-modify-write, retried if someone else wrote in between.
    let policy = RetryPolicy::default();
    let updated = update_with(&store, "acct-1", &policy, |current| {
        let mut account = current.expect("created above").value.clone();
        account.balance += 50;
        Ok::<_, Infallible>(account)
    })
    .await
    .expect("deposit");
    println!("deposited: now {}", updated.meta.version.etag());

    // A client holding the first ETag is refused, with the current one to reconcile.
    let stale = Account {
        owner: "mallory".into(),
        balance: 0,
    };
    match store
        .put("acct-1", stale, Expect::Version(created.version))
        .await
    {
        Err(StoreError::Conflict(c)) => {
            println!("stale write refused; current {:?}", c.current_etag())
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let read = store.get("acct-1").await?.expect("exists");
    println!(
        "acct-1: {} has {} at {}",
        read.value.owner, read.value.balance, read.version
    );
    store.drop_table().await
}
