//! Shared by the store-level test files.

/// Runs a test body once per storage layout, skipping (and saying so) a layout that is absent.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod plain {
            $(#[tokio::test] async fn $name() {
                println!("layout: plain");
                super::$name(super::BackendChoice::Plain).await
            })*
        }
        mod timescale {
            $(#[tokio::test] async fn $name() {
                if !millwright_platform::test_util::timescale_available().await {
                    eprintln!("skipped: TimescaleDB is not installed on this machine");
                    return;
                }
                println!("layout: timescale");
                super::$name(super::BackendChoice::Timescale).await
            })*
        }
        // Issue #18: a coordinator and two workers (millwright_platform::test_util::citus_cluster).
        mod citus {
            $(#[tokio::test] async fn $name() {
                if !millwright_platform::test_util::citus_available() {
                    eprintln!("skipped: Citus is not installed on this machine");
                    return;
                }
                println!("layout: citus");
                super::$name(super::BackendChoice::Citus).await
            })*
        }
    };
}
