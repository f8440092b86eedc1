//! One admitted HTTP/1.1 connection: hyper serves the router on it within the
//! header timeout, request-size limit and idle timeout, and ends it gracefully
//! when the service stops, at once when it aborts.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tower::ServiceExt;
use tracing::debug;

use super::caps::Admission;
use super::idle::{Activity, Watched};
use super::limits::HttpLimits;
use super::Ends;
use crate::shutdown::Shutdown;

/// What every connection is served with.
#[derive(Debug)]
pub struct Serving {
    app: Router,
    http1: http1::Builder,
    limits: HttpLimits,
}

impl Serving {
    /// Serves `app` within `limits`.
    pub fn new(app: Router, limits: HttpLimits) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_header_size(limits.max_request_bytes)
            .keep_alive(true);
        Serving { app, http1, limits }
    }

    /// Serves `stream` from `peer` until the client closes, a limit ends it, or
    /// `shutdown` does; `admission` holds its place under the caps until then.
    pub async fn serve(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        admission: Admission,
        shutdown: Shutdown,
    ) {
        let _admission = admission;
        let local = stream
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let ends = Ends { peer, local };
        let activity = Activity::new();
        let io = TokioIo::new(Watched::new(stream, Arc::clone(&activity)));
        let app = self.app.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(ends));
            app.clone().oneshot(request)
        });
        let connection = self.http1.serve_connection(io, service);
        tokio::pin!(connection);
        let mut stopping = false;
        loop {
            tokio::select! {
                ended = connection.as_mut() => {
                    match ended {
                        Err(err) if err.is_timeout() => {
                            debug!(%peer, "http: closed: no complete request headers within the header timeout");
                        }
                        Err(err) => debug!(%peer, %err, "http: connection ended"),
                        Ok(()) => {}
                    }
                    return;
                }
                () = shutdown.stopping(), if !stopping => {
                    stopping = true;
                    // An idle keep-alive connection closes now; one with a
                    // response going out closes once it is sent.
                    connection.as_mut().graceful_shutdown();
                }
                () = shutdown.aborting() => {
                    debug!(%peer, "http: connection dropped: shutting down");
                    return;
                }
                () = activity.idle_for(self.limits.idle_timeout) => {
                    debug!(%peer, "http: closed: no byte moved within the idle timeout");
                    return;
                }
            }
        }
    }
}
