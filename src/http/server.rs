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
//! - Connections are bounded (specs/http.md §5): a request head must arrive
//!   within the header timeout (which also closes idle keep-alive
//!   connections), at most `max_connections` are open (beyond, a typed 503
//!   and the connection is closed), and after a shutdown signal in-flight
//!   requests get a grace period, after which their connections are closed.
//!   Request heads the HTTP parser refuses (400, 414, 431) get typed JSON
//!   errors too.
//! - Structured logs (`tracing`) with a request id per request; bodies and
//!   secrets are never logged.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
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
    error_answer, routes, AccountOpened, ErrorBody, ErrorDetail, EvidenceList, BINARY, DEFAULT_EVIDENCE_PAGE,
    JSON,
};
use crate::keys::{AccountId, KeysetId, KeysetList};
use crate::protocol::account::AccountRequest;
use crate::protocol::deposit::DepositRequest;
use crate::protocol::reclaim::ReclaimRequest;
use crate::protocol::register::{MerchantRegistration, UserRegistration};
use crate::protocol::spent::UnspentQuery;
use crate::protocol::trust::TtpStatementList;
use crate::protocol::withdraw::{SessionId, WithdrawChallenge, WithdrawRequest};
use crate::protocol::Error;
use crate::roles::Bank;
use crate::store::BankStore;
use crate::wire::{DecodeError, WireMessage};

/// Service settings.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// How long a request may take, from its head to its answer (so also
    /// how long its body may take to arrive).
    pub request_timeout: Duration,
    /// Most bank operations other than deposits running at once (default:
    /// twice the cores).
    pub max_parallel: usize,
    /// How long a client may take to send a request head (request line and
    /// headers), counted from the first byte it is awaited; an idle
    /// keep-alive connection is closed after as long.
    pub header_timeout: Duration,
    /// Most connections open at once; a connection beyond gets a typed
    /// `503 too-many-connections` and is closed.
    pub max_connections: usize,
    /// After the shutdown signal, how long in-flight requests may run
    /// before their connections are closed.
    pub shutdown_grace: Duration,
    /// Most deposit requests decoded and verified at once (default: half
    /// the cores, at least one). Deposits have workers of their own, so a
    /// flood of large deposits never takes the CPU that withdrawals need.
    pub deposit_workers: usize,
    /// Most deposit requests waiting for a worker; beyond, a deposit is
    /// answered `503 overloaded` with `Retry-After` at once.
    pub deposit_queue: usize,
}

/// Default [`ServeConfig::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ServeConfig::max_connections`] (under the common file
/// descriptor limit of 1024, with room for the database and logs).
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Default [`ServeConfig::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers) read; larger gets `431`.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Longest request target (path and query); longer gets `414`.
pub const MAX_URI_BYTES: usize = 8 * 1024;

impl Default for ServeConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServeConfig {
            request_timeout: Duration::from_secs(60),
            max_parallel: 2 * cores,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            deposit_workers: (cores / 2).max(1),
            deposit_queue: 8,
        }
    }
}

/// Seconds a deposit refused for a full queue is told to wait.
const OVERLOAD_RETRY_SECS: u64 = 2;

/// The deposit workers and their bounded queue.
struct DepositQueue {
    workers: Semaphore,
    worker_count: usize,
    queue_limit: usize,
    /// Deposits holding or waiting for a worker.
    admitted: AtomicUsize,
    /// Deposits refused because the queue was full, since start.
    refused: AtomicU64,
}

/// A deposit's place in the queue (or at a worker); left when dropped,
/// also when the client goes away while it waits.
struct QueuePlace<'a>(&'a DepositQueue);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

impl DepositQueue {
    fn new(workers: usize, queue_limit: usize) -> Self {
        let workers = workers.max(1);
        DepositQueue {
            workers: Semaphore::new(workers),
            worker_count: workers,
            queue_limit,
            admitted: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }
    }

    fn capacity(&self) -> usize {
        self.worker_count + self.queue_limit
    }

    /// A place, or `None` when every worker is busy and the queue is full.
    fn enter(&self) -> Option<QueuePlace<'_>> {
        if self.admitted.fetch_add(1, Ordering::SeqCst) >= self.capacity() {
            self.admitted.fetch_sub(1, Ordering::SeqCst);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(QueuePlace(self))
    }

    fn load(&self) -> serde_json::Value {
        let admitted = self.admitted.load(Ordering::SeqCst);
        let verifying = self.worker_count - self.workers.available_permits().min(self.worker_count);
        serde_json::json!({
            "workers": self.worker_count,
            "verifying": verifying,
            "queued": admitted.saturating_sub(verifying),
            "queue_limit": self.queue_limit,
            "refused_overloaded": self.refused.load(Ordering::Relaxed),
        })
    }

    fn overloaded(&self) -> bool {
        self.admitted.load(Ordering::SeqCst) >= self.capacity()
    }
}

struct AppState<S: BankStore> {
    bank: Arc<Bank<S>>,
    cpu: Semaphore,
    deposits: DepositQueue,
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
        let retry_after =
            detail.detail.as_ref().and_then(|d| d.get("retry_after_secs")).and_then(|v| v.as_u64());
        let body = serde_json::to_vec(&ErrorBody { error: detail }).unwrap_or_default();
        let mut r = (status, body).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
        if let Some(secs) = retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
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

/// Which workers a request runs on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pool {
    /// The permits of every request but deposits.
    Cpu,
    /// The deposit workers, behind their bounded queue.
    Deposits,
}

/// Decodes `body` and runs `op` on the blocking pool, under a permit of
/// `pool` (for deposits, after taking a place in their queue: `503
/// overloaded` at once when it is full); encodes the answer in the
/// requested format.
async fn call<S, Req, Resp, F>(
    state: Arc<AppState<S>>,
    pool: Pool,
    headers: HeaderMap,
    body: Bytes,
    op: F,
) -> Reply
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
    let (_place, permits) = match pool {
        Pool::Cpu => (None, &state.cpu),
        Pool::Deposits => match state.deposits.enter() {
            Some(place) => (Some(place), &state.deposits.workers),
            None => {
                tracing::warn!("deposit queue full: deposit refused");
                return Reply::protocol(&Error::Overloaded { retry_after_secs: OVERLOAD_RETRY_SECS });
            }
        },
    };
    let Ok(_permit) = permits.acquire().await else {
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

/// The query of `GET /v1/evidence`: `after` (a cursor, default 0) and
/// `limit` (default [`DEFAULT_EVIDENCE_PAGE`], at most
/// [`super::MAX_EVIDENCE_LIST`]).
fn evidence_query(query: Option<&str>) -> Result<(u64, usize), String> {
    let (mut after, mut limit) = (0u64, DEFAULT_EVIDENCE_PAGE);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| format!("{pair}: expected name=value"))?;
        let n: u64 = v.parse().map_err(|_| format!("{k}={v}: not a number"))?;
        match k {
            "after" => after = n,
            "limit" if (1..=super::MAX_EVIDENCE_LIST as u64).contains(&n) => limit = n as usize,
            "limit" => return Err(format!("limit must be 1 to {}", super::MAX_EVIDENCE_LIST)),
            _ => return Err(format!("{k}: unknown parameter (after, limit)")),
        }
    }
    Ok((after, limit))
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
    let state = Arc::new(AppState {
        bank,
        cpu: Semaphore::new(config.max_parallel.max(1)),
        deposits: DepositQueue::new(config.deposit_workers, config.deposit_queue),
    });
    let api = Router::new()
        .route(
            routes::HEALTH,
            get(|State(s): State<Arc<AppState<S>>>| async move { health(&s) }),
        )
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
            get(|State(s): State<Arc<AppState<S>>>, RawQuery(q): RawQuery, h: HeaderMap| async move {
                let (after, limit) = match evidence_query(q.as_deref()) {
                    Ok(v) => v,
                    Err(m) => return Reply::error(StatusCode::BAD_REQUEST, "bad-query", m),
                };
                read(s, h, move |b: &Bank<S>| Ok(EvidenceList::from(b.evidence_page(after, limit)?))).await
            }),
        )
        .route(
            routes::TTP_STATEMENTS,
            get(|State(s): State<Arc<AppState<S>>>, h: HeaderMap| async move {
                read(s, h, |b: &Bank<S>| Ok(TtpStatementList { statements: b.ttp_statements() })).await
            }),
        )
        .route(
            routes::SPENT_LIST,
            get(
                |State(s): State<Arc<AppState<S>>>,
                 Path((keyset, value, page)): Path<(String, String, String)>,
                 h: HeaderMap| async move {
                    let (Ok(keyset), Ok(value), Ok(page)) =
                        (keyset.parse::<KeysetId>(), value.parse::<u64>(), page.parse::<u32>())
                    else {
                        return Reply::error(
                            StatusCode::BAD_REQUEST,
                            "bad-path",
                            "a keyset id is 64 hex digits, a value and a page decimal numbers".into(),
                        );
                    };
                    read(s, h, move |b: &Bank<S>| b.spent_list(&keyset, value, page, &mut OsRng)).await
                },
            ),
        )
        .route(
            routes::UNSPENT_STATEMENTS,
            post(|State(s): State<Arc<AppState<S>>>, h: HeaderMap, body: Bytes| async move {
                call(s, Pool::Cpu, h, body, |b: &Bank<S>, q: UnspentQuery| b.unspent_statement(&q, &mut OsRng)).await
            })
            .body_limit::<UnspentQuery>(),
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
                call(s, Pool::Cpu, h, body, |b: &Bank<S>, r: UserRegistration| {
                    Ok(AccountOpened { account: b.register_user(&r, &mut OsRng)? })
                })
                .await
            })
            .body_limit::<UserRegistration>(),
        )
        .route(
            routes::MERCHANTS,
            post(|State(s): State<Arc<AppState<S>>>, h: HeaderMap, body: Bytes| async move {
                call(s, Pool::Cpu, h, body, |b: &Bank<S>, r: MerchantRegistration| {
                    Ok(AccountOpened { account: b.register_merchant(&r, &mut OsRng)? })
                })
                .await
            })
            .body_limit::<MerchantRegistration>(),
        )
        .route(
            routes::WITHDRAWALS,
            post(|State(s): State<Arc<AppState<S>>>, h: HeaderMap, body: Bytes| async move {
                call(s, Pool::Cpu, h, body, |b: &Bank<S>, r: WithdrawRequest| b.open_withdrawal(&r, &mut OsRng)).await
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
                    call(s, Pool::Cpu, h, body, move |b: &Bank<S>, c: WithdrawChallenge| {
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
            routes::ACCOUNT_REQUESTS,
            post(
                |State(s): State<Arc<AppState<S>>>, Path(account): Path<String>, h: HeaderMap, body: Bytes| async move {
                    let Ok(account) = account.parse::<AccountId>() else {
                        return Reply::error(
                            StatusCode::BAD_REQUEST,
                            "bad-account-id",
                            "an account id is 32 hex digits".into(),
                        );
                    };
                    call(s, Pool::Cpu, h, body, move |b: &Bank<S>, r: AccountRequest| {
                        if r.account != account {
                            return Err(Error::Decode(DecodeError::InvalidField {
                                what: "account-request",
                                field: "account",
                                reason: "differs from the account in the path".into(),
                            }));
                        }
                        b.account_request(&r)
                    })
                    .await
                },
            )
            .body_limit::<AccountRequest>(),
        )
        .route(
            routes::DEPOSITS,
            // Deposits run on workers of their own: the merchant's signature
            // first (in Bank::deposit), then the work budgets, then the
            // per-coin verification.
            post(|State(s): State<Arc<AppState<S>>>, h: HeaderMap, body: Bytes| async move {
                call(s, Pool::Deposits, h, body, |b: &Bank<S>, r: DepositRequest| b.deposit(&r, &mut OsRng)).await
            })
            .body_limit::<DepositRequest>(),
        )
        .route(
            routes::RECLAIMS,
            // A reclaim verifies a payment as a deposit does: on the
            // deposit workers, after the account's signature.
            post(|State(s): State<Arc<AppState<S>>>, h: HeaderMap, body: Bytes| async move {
                call(s, Pool::Deposits, h, body, |b: &Bank<S>, r: ReclaimRequest| b.reclaim(&r, &mut OsRng)).await
            })
            .body_limit::<ReclaimRequest>(),
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
            .layer(axum::middleware::map_response(fix_limit_errors))
            .layer(axum::middleware::from_fn(refuse_long_uri)),
    )
}

/// `414 uri-too-long` for a request target over [`MAX_URI_BYTES`].
async fn refuse_long_uri(req: Request<axum::body::Body>, next: axum::middleware::Next) -> Response {
    let len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if len > MAX_URI_BYTES {
        return Reply::error(
            StatusCode::URI_TOO_LONG,
            "uri-too-long",
            format!("the request target is over {MAX_URI_BYTES} bytes"),
        )
        .into_response();
    }
    next.run(req).await
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

/// Liveness, version and load: `status` is `overloaded` while the deposit
/// queue is full (a deposit arriving now is refused) and `ok` otherwise;
/// the node answers `200` either way (it still serves everything else).
fn health<S: BankStore>(s: &AppState<S>) -> Reply {
    let status = if s.deposits.overloaded() { "overloaded" } else { "ok" };
    let v = serde_json::json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": crate::crypto::transcript::PROTOCOL_VERSION,
        "deposits": s.deposits.load(),
        "deposit_work": s.bank.deposit_load(),
    });
    let mut r = (StatusCode::OK, v.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    Reply(r)
}

/// Serves `bank` on `listener` until `shutdown` resolves. Then it stops
/// accepting, lets in-flight requests finish within
/// [`ServeConfig::shutdown_grace`], and closes the connections still open
/// after it.
pub async fn serve<S: BankStore + 'static>(
    bank: Arc<Bank<S>>,
    listener: tokio::net::TcpListener,
    config: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(bank, &config);
    let open = Arc::new(Semaphore::new(config.max_connections.max(1)));
    // Answering over-limit connections is bounded too: beyond this many at
    // once they are closed without an answer.
    let refusing = Arc::new(Semaphore::new(64));
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors, or a connection reset
                        // before it was accepted: wait a moment, go on.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                match open.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let conn = serve_connection(stream, peer, app.clone(), config.header_timeout, closing_rx.clone());
                        connections.spawn(async move {
                            conn.await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        tracing::warn!(peer = %peer, limit = config.max_connections, "connection limit reached");
                        if let Ok(permit) = refusing.clone().try_acquire_owned() {
                            connections.spawn(async move {
                                refuse_connection(stream).await;
                                drop(permit);
                            });
                        }
                    }
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    tracing::info!(open = connections.len(), grace_secs = config.shutdown_grace.as_secs(), "shutting down");
    let _ = closing.send(true);
    let deadline = tokio::time::sleep(config.shutdown_grace);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            done = connections.join_next() => if done.is_none() { break },
            _ = &mut deadline => {
                tracing::warn!(open = connections.len(), "shutdown grace over: closing the connections still open");
                connections.abort_all();
                while connections.join_next().await.is_some() {}
                break;
            }
        }
    }
    Ok(())
}

/// Runs `bank.reload()` (secrets, TTP key statements, keysets from the
/// store) on the blocking pool each time the process gets SIGHUP, until the
/// runtime stops; a no-op where there is no SIGHUP. Call it inside the
/// runtime: SIGHUP is listened for from the moment it returns.
pub fn reload_on_sighup<S: BankStore + 'static>(bank: Arc<Bank<S>>) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: keysets reload on their refresh interval only");
            return;
        };
        tokio::spawn(async move {
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
    }
    #[cfg(not(unix))]
    let _ = bank;
}

/// Serves one connection (HTTP/1.1) until it ends, or until `closing`
/// asks it to finish its request in flight and close.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let io = hyper_util::rt::TokioIo::new(TypedParseErrors::new(stream));
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        tower::ServiceExt::oneshot(app.clone(), req)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_header_size(MAX_HEAD_BYTES);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = async { drop(closing.wait_for(|c| *c).await) } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Answers a connection over the limit with a typed `503` and closes it.
async fn refuse_connection(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let answer = typed_answer(
        StatusCode::SERVICE_UNAVAILABLE,
        "too-many-connections",
        "the node has as many connections open as it serves; retry shortly",
        Some(1),
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        // Read what the client sent, so closing does not reset the
        // connection before it reads the answer.
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => left = left.saturating_sub(n),
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// A complete HTTP/1.1 answer with a typed JSON error body, closing the
/// connection.
fn typed_answer(status: StatusCode, code: &str, message: &str, retry_after: Option<u64>) -> Vec<u8> {
    let body = serde_json::to_vec(&ErrorBody {
        error: ErrorDetail {
            code: code.into(),
            message: message.into(),
            retryable: status == StatusCode::SERVICE_UNAVAILABLE,
            detail: None,
        },
    })
    .unwrap_or_default();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {JSON}\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    if let Some(s) = retry_after {
        head.push_str(&format!("retry-after: {s}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    out
}

/// The connection's byte stream, with the answers the HTTP parser sends on
/// its own (bodiless `400`, `414`, `431` for a request head it cannot
/// parse, before any route runs) replaced by typed JSON errors, so every
/// error answer carries its body. Such an answer is the last on its
/// connection; the router's own answers always carry a `content-type` and
/// are never touched.
struct TypedParseErrors<T> {
    inner: T,
    /// A replacement answer and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<T> TypedParseErrors<T> {
    fn new(inner: T) -> Self {
        TypedParseErrors { inner, replacement: None }
    }
}

/// The typed answer for the parser's own error answer starting `head`.
fn parser_error_answer(head: &[u8]) -> Option<Vec<u8>> {
    let status = head.strip_prefix(b"HTTP/1.1 ".as_slice())?.get(..3)?;
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
    if head.contains("\r\ncontent-type:") || !head.contains("\r\ncontent-length: 0") {
        return None;
    }
    let (status, code, message) = match status {
        b"400" => (StatusCode::BAD_REQUEST, "bad-request", "the request head could not be parsed"),
        b"414" => (StatusCode::URI_TOO_LONG, "uri-too-long", "the request target is too long"),
        b"431" => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            "the request head is over the node's limit",
        ),
        _ => return None,
    };
    Some(typed_answer(status, code, message, None))
}

impl<T: tokio::io::AsyncWrite + Unpin> TypedParseErrors<T> {
    /// Writes what is left of the replacement.
    fn poll_replacement(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                return Poll::Ready(Ok(()));
            }
            match std::pin::Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for TypedParseErrors<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for TypedParseErrors<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        if self.replacement.is_none() {
            match parser_error_answer(buf) {
                Some(answer) => self.replacement = Some((answer, 0)),
                None => return std::pin::Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        // The parser's own answer (and anything after it) is replaced.
        match self.poll_replacement(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Listens for Ctrl-C (SIGINT) and SIGTERM from the moment it is called
/// (inside a runtime), so a signal sent right after the node announces
/// itself is not lost; the future resolves on the first of them.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = interrupt.recv() => {},
            }
            tracing::info!("shutting down: finishing in-flight requests");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down: finishing in-flight requests");
        })
    }
}

/// Starts `bank` on a background runtime bound to `addr` (port 0 for any):
/// for tests and `demo --http`. Returns the bound address and a handle that
/// stops the service when dropped.
pub fn spawn<S: BankStore + 'static>(bank: Arc<Bank<S>>, addr: SocketAddr) -> std::io::Result<RunningServer> {
    spawn_with(bank, addr, ServeConfig::default())
}

/// As [`spawn`], with `config`.
pub fn spawn_with<S: BankStore + 'static>(
    bank: Arc<Bank<S>>,
    addr: SocketAddr,
    config: ServeConfig,
) -> std::io::Result<RunningServer> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(addr))?;
    let local = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(async move {
        let _ = serve(bank, listener, config, async {
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
