//! Large address spaces: the server's operation limits are read and reads, browses and
//! monitored-item creation are chunked, so thousands of nodes work against a server that takes
//! only a few per request.

mod common;

use std::{collections::HashSet, time::Duration};

use common::opcua::*;
use millwright_connectors::{
    opcua::{config::Acquisition, session},
    sample::Quality,
};

const NODES: usize = 3000;
const LIMIT: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_nodes_fit_small_operation_limits() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let server = scratch_server(dir.path(), NODES, Some(LIMIT)).await;
    let mut cfg = scratch_config(&server, dir.path(), NODES);
    let conn = session::connect(&cfg).await.unwrap();
    assert_eq!(
        conn.limits.max_nodes_per_read, LIMIT,
        "limits read from the server"
    );
    assert_eq!(conn.limits.max_monitored_items_per_call, LIMIT);
    conn.close().await;

    // Half subscribed, half polled: both paths chunk.
    for t in cfg.tags.iter_mut().skip(NODES / 2) {
        t.acquisition = Acquisition::Poll;
    }
    let mut d = common::run_drivers(&connector(vec![cfg]));
    let mut good = HashSet::new();
    let all = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(s) = d.rx.recv().await {
            assert_ne!(s.quality, Quality::Bad, "no tag fails: {s:?}");
            good.insert(s.tag);
            if good.len() == NODES {
                break;
            }
        }
    })
    .await;
    assert!(all.is_ok(), "only {} of {NODES} tags delivered", good.len());
    let _ = d.stop.send(true);
    server.stop().await;
}
