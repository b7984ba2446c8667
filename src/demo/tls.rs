//! The demo upstreams over TLS: HTTP/2 or HTTP/1.1, chosen by ALPN, so that the
//! gateway's TLS (and its HTTP/2 pools) can be tried and tested against them.

use std::{future::Future, sync::Arc, time::Duration};

use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::Demo;

/// Serves `demo` on `listener` with TLS configured by `tls` until `shutdown`
/// completes, then finishes the calls in flight (hung calls are released with a 503).
/// A handshake that fails (an unknown CA on the client's side, a missing client
/// certificate) closes that connection only.
pub async fn serve_tls(
    listener: TcpListener,
    demo: Demo,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = demo.router();
    let acceptor = TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "demo: accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match acceptor.accept(stream).await {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::debug!(%error, "demo: TLS handshake failed");
                    return;
                }
            };
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(error) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%error, "demo: connection ended with an error");
            }
        });
    }
    drop(listener);
    demo.shared.shutdown.send_replace(true);
    graceful.shutdown().await;
    Ok(())
}

/// A TLS configuration for the demo from PEM files: a certificate chain and its key.
pub fn config_from_files(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>, crate::tls::TlsError> {
    crate::tls::server_config(crate::tls::certificates(cert)?, crate::tls::private_key(key)?, None)
}

/// A CA made now, and a certificate it signed for `localhost`, `127.0.0.1` and
/// `::1`: the TLS configuration, and the CA's certificate in PEM (for the client).
pub fn self_signed() -> Result<(Arc<rustls::ServerConfig>, String), crate::tls::TlsError> {
    let ca = crate::tls::TestCa::new("delivery-gateway demo CA")?;
    let leaf = ca.server(&["localhost", "127.0.0.1", "::1"])?;
    let (chain, key) = leaf.der()?;
    Ok((crate::tls::server_config(chain, key, None)?, ca.cert_pem))
}
