//! `GET /.well-known/gpc.json`: the Global Privacy Control support resource
//! (W3C GPC, `collector/reference/consent.md` section 3.1). The collector
//! honours `Sec-GPC: 1` and the tag's `gpc` flag as an objection to
//! personalization (see `consent::resolve`), and says so here.

use actix_web::http::header;
use actix_web::{HttpResponse, Resource, web};

/// When our handling of GPC last changed (RFC 3339 date).
pub const LAST_UPDATE: &str = "2026-11-24";

/// The route.
#[must_use]
pub fn service() -> Resource {
    web::resource("/.well-known/gpc.json")
        .route(web::get().to(gpc))
        .default_service(super::method_not_allowed("GET"))
}

async fn gpc() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .json(serde_json::json!({ "gpc": true, "lastUpdate": LAST_UPDATE }))
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test};

    #[actix_web::test]
    async fn the_support_resource_says_gpc_is_honoured() {
        let app = test::init_service(App::new().service(super::service())).await;
        let request = test::TestRequest::get()
            .uri("/.well-known/gpc.json")
            .to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/json"
        );
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(
            body,
            serde_json::json!({"gpc": true, "lastUpdate": "2026-11-24"})
        );
    }
}
