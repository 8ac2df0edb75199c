//! `faircash bank serve`: the bank over HTTP (axum on tokio).
//!
//! - Bodies are decoded by content type (`application/json`: the JSON form;
//!   `application/x-faircash`: the binary envelope), answers encoded as the
//!   `Accept` header asks (default: the request's format).
//! - Decoding and every bank operation run on the blocking pool, at most
//!   twice as many at once as there are cores; the async executor only moves
//!   bytes.
//! - Each route has a body limit (its message's largest encoding); requests
//!   time out; malformed, oversized or unsupported bodies get 4xx with a
//!   typed JSON error; a panic becomes a 500 without taking the node down.
//! - Structured logs (`tracing`) with a request id per request; bodies and
//!   secrets are never logged.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use rand::rngs::OsRng;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::{
    error_answer, routes, AccountOpened, ErrorBody, ErrorDetail, EvidenceItem, EvidenceList, BINARY, JSON,
};
use crate::keys::KeysetList;
use crate::protocol::deposit::DepositRequest;
use crate::protocol::register::{MerchantRegistration, UserRegistration};
use crate::protocol::trust::TtpStatementList;
use crate::protocol::withdraw::{SessionId, WithdrawChallenge, WithdrawRequest};
use crate::protocol::Error;
use crate::roles::Bank;
use crate::store::BankStore;
use crate::wire::{DecodeError, WireMessage};

/// Service settings.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// How long a request may take.
    pub request_timeout: Duration,
    /// Most bank operations running at once (default: twice the cores).
    pub max_parallel: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServeConfig { request_timeout: Duration::from_secs(60), max_parallel: 2 * cores }
    }
}

struct AppState<S: BankStore> {
    bank: Arc<Bank<S>>,
    cpu: Semaphore,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Binary,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Json => JSON,
            Format::Binary => BINARY,
        }
    }
}

fn media(v: &str) -> Option<Format> {
    let m = v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match m.as_str() {
        JSON => Some(Format::Json),
        BINARY | "application/octet-stream" => Some(Format::Binary),
        _ => None,
    }
}

fn request_format(h: &HeaderMap) -> Option<Format> {
    h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(media)
}

fn answer_format(h: &HeaderMap, default: Format) -> Format {
    h.get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').find_map(media))
        .unwrap_or(default)
}

/// A response: a message, or a typed error.
struct Reply(Response);

impl Reply {
    fn error(status: StatusCode, code: &str, message: String) -> Self {
        Self::detail(
            status,
            ErrorDetail {
                code: code.into(),
                message,
                retryable: status == StatusCode::SERVICE_UNAVAILABLE,
                detail: None,
            },
        )
    }

    fn detail(status: StatusCode, detail: ErrorDetail) -> Self {
        tracing::info!(status = status.as_u16(), code = %detail.code, "refused");
        let body = serde_json::to_vec(&ErrorBody { error: detail }).unwrap_or_default();
        let mut r = (status, body).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
        Reply(r)
    }

    fn protocol(e: &Error) -> Self {
        let (status, detail) = error_answer(e);
        Self::detail(StatusCode::from_u16(status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY), detail)
    }

    fn message<T: WireMessage>(m: &T, f: Format) -> Self {
        let body = match f {
            Format::Json => m.to_json().into_bytes(),
            Format::Binary => m.to_bytes(),
        };
        let mut r = (StatusCode::OK, body).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(f.content_type()));
        Reply(r)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        self.0
    }
}

fn decode<T: WireMessage>(f: Format, body: &[u8]) -> Result<T, DecodeError> {
    match f {
        Format::Json => match std::str::from_utf8(body) {
            Ok(text) => T::from_json(text),
            Err(_) => Err(DecodeError::Malformed { what: T::what(), detail: "body is not UTF-8".into() }),
        },
        Format::Binary => T::from_bytes(body),
    }
}

/// Decodes `body` and runs `op` on the blocking pool, bounded by the CPU
/// semaphore; encodes the answer in the requested format.
async fn call<S, Req, Resp, F>(state: Arc<AppState<S>>, headers: HeaderMap, body: Bytes, op: F) -> Reply
where
    S: BankStore + 'static,
    Req: WireMessage + Send + 'static,
    Resp: WireMessage + Send + 'static,
    F: FnOnce(&Bank<S>, Req) -> Result<Resp, Error> + Send + 'static,
{
    let Some(fmt) = request_format(&headers) else {
        return Reply::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!("send {JSON} or {BINARY}"),
        );
    };
    let out = answer_format(&headers, fmt);
    let Ok(_permit) = state.cpu.acquire().await else {
        return Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "the node is shutting down".into(),
        );
    };
    let bank = state.bank.clone();
    let span = tracing::Span::current();
    let result = tokio::task::spawn_blocking(move || {
        let _enter = span.enter();
        let req = decode::<Req>(fmt, &body).map_err(Error::from)?;
        op(&bank, req)
    })
    .await;
    match result {
        Ok(Ok(resp)) => Reply::message(&resp, out),
        Ok(Err(e)) => {
            if matches!(e, Error::Store(_)) {
                tracing::warn!(error = %e, "store failure");
            }
            Reply::protocol(&e)
        }
        Err(_) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the request failed".into()),
    }
}

/// Runs a read-only operation on the blocking pool.
async fn read<S, Resp, F>(state: Arc<AppState<S>>, headers: HeaderMap, op: F) -> Reply
where
    S: BankStore + 'static,
    Resp: WireMessage + Send + 'static,
    F: FnOnce(&Bank<S>) -> Result<Resp, Error> + Send + 'static,
{
    let out = answer_format(&headers, Format::Json);
    let bank = state.bank.clone();
    match tokio::task::spawn_blocking(move || op(&bank)).await {
        Ok(Ok(resp)) => Reply::message(&resp, out),
        Ok(Err(e)) => Reply::protocol(&e),
        Err(_) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the request failed".into()),
    }
}

/// A route's body limit: that of its message `T`, its largest encoding in
/// either form.
trait BodyLimit {
    /// A `Content-Length` over the limit gets `413` before any of the body
    /// is read (`RequestBodyLimitLayer`), and the extractor reads at most
    /// that many bytes (`DefaultBodyLimit`, which would otherwise cap every
    /// body at 2 MB).
    fn body_limit<T: WireMessage>(self) -> Self;
}

impl<St: Clone + Send + Sync + 'static> BodyLimit for MethodRouter<St> {
    fn body_limit<T: WireMessage>(self) -> Self {
        let n = T::MAX_BYTES.max(T::MAX_JSON_BYTES);
        self.layer::<_, Infallible>(DefaultBodyLimit::max(n))
            .layer::<_, Infallible>(RequestBodyLimitLayer::new(n))
    }
}

/// The service's router over `bank`.
pub fn router<S: BankStore + 'static>(bank: Arc<Bank<S>>, config: &ServeConfig) -> Router {
    let state = Arc::new(AppState { bank, cpu: Semaphore::new(config.max_parallel.max(1)) });
    let api = Router::new()
        .route(routes::HEALTH, get(health))
        .route(
            routes::STATUS,
            get(|State(s): State<Arc<AppState<S>>>| async move {
                let bank = s.bank.clone();
                match tokio::task::spawn_blocking(move || bank.status()).await {
                    Ok(Ok(st)) => {
                        let v = serde_json::json!({
                            "today": st.today, "keysets": st.keysets, "accounts": st.accounts.len(),
                            "spent_coins": st.spent_coins, "evidence": st.evidence, "watch_list": st.watch_list,
                            "session_epoch": st.session_epoch,
                        });
                        let mut r = (StatusCode::OK, v.to_string()).into_response();
                        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
                        Reply(r)
                    }
                    Ok(Err(e)) => Reply::protocol(&e),
                    Err(_) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "status failed".into()),
                }
            }),
        )
        .route(
            routes::KEYSETS,
            get(|State(s): State<Arc<AppState<S>>>, h: HeaderMap| async move {
                read(s, h, |b: &Bank<S>| Ok(KeysetList { keysets: b.published_keysets() })).await
            }),
        )
        .route(
            routes::EVIDENCE,
            get(|State(s): State<Arc<AppState<S>>>, h: HeaderMap| async move {
                read(s, h, |b: &Bank<S>| {
                    let items = b
                        .evidence()?
                        .into_iter()
                        .take(super::MAX_EVIDENCE_LIST)
                        .map(|e| EvidenceItem { evidence: e.evidence, account: e.account })
                        .collect();
                    Ok(EvidenceList { items })
                })
                .await
            }),
        )
        .route(
            routes::TTP_STATEMENTS,
            get(|State(s): State<Arc<AppState<S>>>, h: HeaderMap| async move {
                read(s, h, |b: &Bank<S>| Ok(TtpStatementList { statements: b.ttp_statements() })).await
            }),
        )
        .route(
            routes::WATCH_LIST,
            get(|State(s): State<Arc<AppState<S>>>, h: HeaderMap| async move {
                read(s, h, |b: &Bank<S>| b.watch_list(&mut OsRng)).await
            }),
        )
        .route(
            routes::USERS,
            post(|State(s): State<Arc<AppState<S>>>, h: HeaderMap, body: Bytes| async move {
                call(s, h, body, |b: &Bank<S>, r: UserRegistration| {
                    Ok(AccountOpened { account: b.register_user(&r, &mut OsRng)? })
                })
                .await
            })
            .body_limit::<UserRegistration>(),
        )
        .route(
            routes::MERCHANTS,
            post(|State(s): State<Arc<AppState<S>>>, h: HeaderMap, body: Bytes| async move {
                call(s, h, body, |b: &Bank<S>, r: MerchantRegistration| {
                    Ok(AccountOpened { account: b.register_merchant(&r, &mut OsRng)? })
                })
                .await
            })
            .body_limit::<MerchantRegistration>(),
        )
        .route(
            routes::WITHDRAWALS,
            post(|State(s): State<Arc<AppState<S>>>, h: HeaderMap, body: Bytes| async move {
                call(s, h, body, |b: &Bank<S>, r: WithdrawRequest| b.open_withdrawal(&r, &mut OsRng)).await
            })
            .body_limit::<WithdrawRequest>(),
        )
        .route(
            routes::CHALLENGE,
            post(
                |State(s): State<Arc<AppState<S>>>, Path(session): Path<String>, h: HeaderMap, body: Bytes| async move {
                    let Ok(session) = session.parse::<SessionId>() else {
                        return Reply::error(
                            StatusCode::BAD_REQUEST,
                            "bad-session-id",
                            "a session id is 32 hex digits".into(),
                        );
                    };
                    call(s, h, body, move |b: &Bank<S>, c: WithdrawChallenge| {
                        if c.session_id != session {
                            return Err(Error::Decode(DecodeError::InvalidField {
                                what: "withdraw-challenge",
                                field: "session_id",
                                reason: "differs from the session in the path".into(),
                            }));
                        }
                        b.answer_withdrawal(&c)
                    })
                    .await
                },
            )
            .body_limit::<WithdrawChallenge>(),
        )
        .route(
            routes::DEPOSITS,
            post(|State(s): State<Arc<AppState<S>>>, h: HeaderMap, body: Bytes| async move {
                call(s, h, body, |b: &Bank<S>, r: DepositRequest| b.deposit(&r, &mut OsRng)).await
            })
            .body_limit::<DepositRequest>(),
        )
        .fallback(|| async {
            Reply::error(StatusCode::NOT_FOUND, "not-found", "no such route (see specs/http.md)".into())
        })
        .method_not_allowed_fallback(|| async {
            Reply::error(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "wrong method for this route".into())
        })
        .with_state(state);
    api.layer(
        tower::ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(TraceLayer::new_for_http()
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO))
                .make_span_with(|req: &Request<_>| {
                let id = req
                    .extensions()
                    .get::<RequestId>()
                    .and_then(|r| r.header_value().to_str().ok())
                    .unwrap_or("-")
                    .to_string();
                tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
            }))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(CatchPanicLayer::custom(|_| {
                Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the request failed".into()).into_response()
            }))
            .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, config.request_timeout))
            .layer(axum::middleware::map_response(fix_limit_errors)),
    )
}

/// Turns axum's plain-text 413 (body limit) into a typed JSON error.
async fn fix_limit_errors(r: Response) -> Response {
    let typed = r
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(JSON.as_bytes()))
        || r.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(BINARY.as_bytes()));
    if typed || r.status().is_success() {
        return r;
    }
    let status = r.status();
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("too-large", "the body exceeds this route's limit"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::BAD_REQUEST => ("bad-request", "the request could not be read"),
        _ => ("http-error", "the request failed"),
    };
    Reply::error(status, code, message.into()).into_response()
}

async fn health() -> Reply {
    let v = serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "protocol": crate::crypto::transcript::PROTOCOL_VERSION});
    let mut r = (StatusCode::OK, v.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    Reply(r)
}

/// Serves `bank` on `listener` until `shutdown` resolves; in-flight
/// requests finish first.
pub async fn serve<S: BankStore + 'static>(
    bank: Arc<Bank<S>>,
    listener: tokio::net::TcpListener,
    config: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(bank, &config);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Runs `bank.reload()` (secrets, TTP key statements, keysets from the
/// store) on the blocking pool each time the process gets SIGHUP, until the
/// runtime stops; a no-op where there is no SIGHUP.
pub fn reload_on_sighup<S: BankStore + 'static>(bank: Arc<Bank<S>>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            let bank = bank.clone();
            match tokio::task::spawn_blocking(move || bank.reload()).await {
                Ok(Ok(added)) => {
                    tracing::info!(added, "SIGHUP: reloaded secrets, TTP statements and keysets")
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "SIGHUP: reload failed; keeping what is held"),
                Err(_) => tracing::warn!("SIGHUP: reload failed"),
            }
        }
    });
    #[cfg(not(unix))]
    let _ = bank;
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Starts `bank` on a background runtime bound to `addr` (port 0 for any):
/// for tests and `demo --http`. Returns the bound address and a handle that
/// stops the service when dropped.
pub fn spawn<S: BankStore + 'static>(bank: Arc<Bank<S>>, addr: SocketAddr) -> std::io::Result<RunningServer> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(addr))?;
    let local = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(async move {
        let _ = serve(bank, listener, ServeConfig::default(), async {
            let _ = rx.await;
        })
        .await;
    });
    Ok(RunningServer { addr: local, stop: Some(tx), rt: Some(rt) })
}

/// A service started by [`spawn`].
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl RunningServer {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}
