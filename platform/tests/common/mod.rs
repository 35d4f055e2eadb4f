//! Shared by the store-level test files.

/// Runs a test body once per storage layout, skipping (and saying so) a layout that is absent.
///
/// `on_every_backend!(a, b)` runs each on plain, TimescaleDB and Citus (issue #18: a
/// coordinator and two workers, `millwright_platform::test_util::citus_cluster`).
/// `on_every_backend!(citus_pending = "why"; a, b)` is for files whose tests do not pass on
/// Citus yet: their Citus variants are listed as ignored, with the reason, and run with
/// `cargo test -- --ignored`.
#[macro_export]
macro_rules! on_every_backend {
    (citus_pending = $why:literal; $($name:ident),* $(,)?) => {
        $crate::on_every_backend!(@single_node $($name),*);
        mod citus {
            $(#[tokio::test] #[ignore = $why] async fn $name() {
                $crate::on_every_backend!(@citus $name);
            })*
        }
    };
    (@single_node $($name:ident),*) => {
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
    };
    (@citus $name:ident) => {
        if !millwright_platform::test_util::citus_available() {
            eprintln!("skipped: Citus is not installed on this machine");
            return;
        }
        println!("layout: citus");
        super::$name(super::BackendChoice::Citus).await
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_every_backend!(@single_node $($name),*);
        mod citus {
            $(#[tokio::test] async fn $name() {
                $crate::on_every_backend!(@citus $name);
            })*
        }
    };
}
