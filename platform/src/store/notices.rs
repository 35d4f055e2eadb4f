//! Server notices at the level they deserve.
//!
//! tokio-postgres logs every NOTICE the server sends at INFO. Routine maintenance sends some
//! each round (TimescaleDB: "continuous aggregate … is already up-to-date"), which would fill
//! an operator's log with nothing to act on. This connector drives each connection itself and
//! logs notices at DEBUG, warnings at WARN.

use deadpool_postgres::Connect;
use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Client, Config, Error, Socket};

/// Connects with `tls` and handles the server's asynchronous messages (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct NoticesAtDebug<T> {
    tls: T,
}

impl<T> NoticesAtDebug<T> {
    pub(crate) fn new(tls: T) -> Self {
        Self { tls }
    }
}

impl<T> Connect for NoticesAtDebug<T>
where
    T: MakeTlsConnect<Socket> + Clone + Sync + Send + 'static,
    T::Stream: Sync + Send,
    T::TlsConnect: Sync + Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    fn connect(&self, config: &Config) -> BoxFuture<'_, Result<(Client, JoinHandle<()>), Error>> {
        let tls = self.tls.clone();
        let config = config.clone();
        Box::pin(async move {
            let (client, mut connection) = config.connect(tls).await?;
            let task = tokio::spawn(async move {
                let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                while let Some(message) = futures::StreamExt::next(&mut messages).await {
                    match message {
                        Ok(AsyncMessage::Notice(n)) if n.severity() == "WARNING" => {
                            tracing::warn!(target: "millwright_platform::store::server", code = n.code().code(), "{}", n.message());
                        }
                        Ok(AsyncMessage::Notice(n)) => {
                            tracing::debug!(target: "millwright_platform::store::server", severity = n.severity(), "{}", n.message());
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(target: "deadpool.postgres", "Connection error: {e}");
                            break;
                        }
                    }
                }
            });
            Ok((client, task))
        })
    }
}
