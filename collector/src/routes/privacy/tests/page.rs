//! The page, in the site's language, with nothing from elsewhere.

use super::*;

#[actix_web::test]
async fn the_page_speaks_the_sites_language_and_loads_nothing_from_elsewhere() {
    let world = World::new();
    for (request, lang, title) in [
        (
            TestRequest::get().uri("/privacy?lang=it-IT"),
            "it",
            "Le tue scelte sulla privacy",
        ),
        (
            TestRequest::get()
                .uri("/privacy")
                .insert_header(("accept-language", "fr, it;q=0.8")),
            "it",
            "Le tue scelte",
        ),
        (
            TestRequest::get().uri("/privacy?lang=xx"),
            "en",
            "Your privacy choices",
        ),
    ] {
        let response = world.send(request).await;
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers.get("cache-control").unwrap(), "no-store");
        assert!(
            headers
                .get("content-security-policy")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("default-src 'none'")
        );
        let page = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
        assert!(page.contains(&format!("<html lang=\"{lang}\">")), "{page}");
        assert!(page.contains(title));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no third-party resource"
        );
    }
    for path in [
        "/privacy/page.css",
        "/privacy/page.js",
        "/privacy/reminder.js?lang=it",
    ] {
        assert_eq!(
            world.send(TestRequest::get().uri(path)).await.status(),
            200,
            "{path}"
        );
    }
}
