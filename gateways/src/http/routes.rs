//! The route table: every resource with its methods (others answer 405 with `Allow`), the extractor
//! configurations (body limit, JSON/query/path errors in the one error shape), the guard, and the defaults (console
//! assets, JSON 404).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, Error, FromRequest, Handler, HttpRequest, Resource, Responder, web};

use super::error::{ApiError, json_error, path_error, query_error};
use super::responses::AppState;
use super::{assets, auth, groups, guard, metrics, offsets, poll, produce, streams, system, tokens, topics, users};

/// A resource whose unrouted methods answer 405 `method_not_allowed` with `Allow: allow`.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        Err::<actix_web::HttpResponse, _>(ApiError::method_not_allowed(req.method().as_str(), allow))
    }))
}

/// Routes GET and HEAD (the same answer without its body, as HTTP requires of a server that answers GET) of
/// `resource` to `handler`.
fn readable<F, Args>(resource: Resource, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    resource.route(web::get().to(handler.clone())).route(web::head().to(handler))
}

fn api(cfg: &mut web::ServiceConfig) {
    const TOPIC: &str = "/streams/{stream}/topics/{topic}";
    const PARTITION: &str = "/streams/{stream}/topics/{topic}/partitions/{partition}";
    cfg.service(readable(resource("/status", "GET, HEAD"), system::status))
        .service(readable(resource("/openapi.json", "GET, HEAD"), system::openapi))
        .service(
            readable(resource("/streams", "GET, HEAD, POST"), streams::list).route(web::post().to(streams::create)),
        )
        .service(
            readable(resource("/streams/{stream}", "GET, HEAD, DELETE"), streams::get)
                .route(web::delete().to(streams::delete)),
        )
        .service(
            readable(resource("/streams/{stream}/topics", "GET, HEAD, POST"), topics::list)
                .route(web::post().to(topics::create)),
        )
        .service(readable(resource(TOPIC, "GET, HEAD, DELETE"), topics::get).route(web::delete().to(topics::delete)))
        .service(resource(&format!("{TOPIC}/partitions"), "POST").route(web::post().to(topics::add_partitions)))
        .service(resource(&format!("{TOPIC}/messages"), "POST").route(web::post().to(produce::produce)))
        // GET only: a poll may store a consumer's offset (`auto_commit`), which a HEAD must not do unseen.
        .service(resource(&format!("{PARTITION}/messages"), "GET").route(web::get().to(poll::poll)))
        .service(
            readable(resource(&format!("{PARTITION}/consumers/{{consumer}}"), "GET, HEAD, PUT, DELETE"), offsets::get)
                .route(web::put().to(offsets::put))
                .route(web::delete().to(offsets::delete)),
        )
        .service(readable(resource("/streams/{stream}/groups", "GET, HEAD"), groups::list))
        .service(
            readable(resource("/streams/{stream}/groups/{group}", "GET, HEAD, DELETE"), groups::describe)
                .route(web::delete().to(groups::delete)),
        )
        .service(
            resource("/streams/{stream}/groups/{group}/reset-offsets", "POST").route(web::post().to(groups::reset)),
        )
        .service(resource("/login", "POST").route(web::post().to(tokens::login)))
        .service(readable(resource("/whoami", "GET, HEAD"), tokens::whoami))
        .service(readable(resource("/users", "GET, HEAD, POST"), users::list).route(web::post().to(users::create)))
        .service(
            readable(resource("/users/{name}", "GET, HEAD, PATCH, DELETE"), users::get)
                .route(web::patch().to(users::update))
                .route(web::delete().to(users::delete)),
        )
        .service(
            resource("/users/{name}/grants", "POST, DELETE")
                .route(web::post().to(users::grant))
                .route(web::delete().to(users::revoke)),
        )
        .service(readable(resource("/tokens", "GET, HEAD, POST"), tokens::list).route(web::post().to(tokens::create)))
        .service(resource("/tokens/{id}", "DELETE").route(web::delete().to(tokens::revoke)));
}

/// The application: state, extractor configurations, guard, routes and defaults.
pub(crate) fn app(
    state: web::Data<AppState>,
    max_body_bytes: usize,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(web::JsonConfig::default().limit(max_body_bytes).error_handler(json_error))
        .app_data(web::PayloadConfig::new(max_body_bytes))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .wrap(from_fn(auth::authenticate))
        .wrap(from_fn(guard::guard))
        .wrap(from_fn(metrics::count_request))
        .service(web::scope("/api/v1").configure(api).default_service(web::to(assets::api_not_found)))
        .service(readable(resource("/health", "GET, HEAD"), system::health))
        .service(readable(resource("/ready", "GET, HEAD"), system::ready))
        .service(readable(resource("/metrics", "GET, HEAD"), metrics::metrics))
        .default_service(web::to(assets::serve))
}
