//! The privacy center's page and the tag's reminder, in the visitor's
//! language: `GET /privacy` (`?lang=` from the site, else
//! `Accept-Language`, else English), its stylesheet and script, and
//! `GET /privacy/reminder.js` (every language's words in it: it runs on
//! the site's page and picks the page's language). Plain HTML and CSS with a few lines of
//! script, nothing from anyone else (the `Content-Security-Policy` allows
//! this collector only). The words are in `page/locales/<lang>.toml`, one
//! file per language with the same keys; each page is built once.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use actix_web::http::header::{
    ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_SECURITY_POLICY, HeaderValue, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use actix_web::{HttpRequest, HttpResponse, web};
use fiducia_proto::consent::Purpose;

use super::method_not_allowed;

/// The languages, English first (the fallback).
const LOCALES: [(&str, &str); 2] = [
    ("en", include_str!("page/locales/en.toml")),
    ("it", include_str!("page/locales/it.toml")),
];
const PAGE: &str = include_str!("page/page.html");
const PURPOSE: &str = include_str!("page/purpose.html");
const CSS: &str = include_str!("page/page.css");
const SCRIPT: &str = include_str!("page/page.js");
const REMINDER: &str = include_str!("page/reminder.js");

/// Only this collector's own resources; nothing inline but the JSON data block.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                      img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One language and its page.
struct Built {
    lang: &'static str,
    page: String,
}

fn parsed() -> impl Iterator<Item = (&'static str, BTreeMap<String, String>)> {
    LOCALES.iter().map(|&(lang, text)| {
        let strings = strings(text).unwrap_or_else(|e| panic!("locales/{lang}.toml: {e}"));
        (lang, strings)
    })
}

static BUILT: LazyLock<Vec<Built>> = LazyLock::new(|| {
    parsed()
        .map(|(lang, strings)| Built {
            lang,
            page: page(lang, &strings),
        })
        .collect()
});

/// The reminder, with the words it needs in every language (it picks the
/// page's own).
static REMINDER_BUILT: LazyLock<String> = LazyLock::new(|| {
    let words: BTreeMap<&str, BTreeMap<String, String>> = parsed()
        .map(|(lang, strings)| {
            let needed = strings
                .into_iter()
                .filter(|(k, _)| {
                    k.starts_with("reminder")
                        || k == "and"
                        || Purpose::CONSENTABLE.iter().any(|p| p.as_str() == k)
                })
                .collect();
            (lang, needed)
        })
        .collect();
    let json = serde_json::to_string(&words).unwrap_or_default();
    REMINDER.replace("/*WORDS*/ {}", &json)
});

/// A language file's strings.
fn strings(text: &str) -> Result<BTreeMap<String, String>, toml::de::Error> {
    toml::from_str(text)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JSON safe inside a `<script>` element.
fn json_block(strings: &BTreeMap<String, String>) -> String {
    serde_json::to_string(strings)
        .unwrap_or_default()
        .replace('<', "\\u003c")
}

/// `{{key}}` of `template` replaced by the escaped string of `key`.
fn fill(template: &str, strings: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").unwrap_or(after.len());
        let key = &after[..end];
        out.push_str(
            &strings
                .get(key)
                .map_or_else(|| format!("{{{{{key}}}}}"), |v| escape(v)),
        );
        rest = after.get(end + 2..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

fn page(lang: &str, strings: &BTreeMap<String, String>) -> String {
    let purposes: String = Purpose::CONSENTABLE
        .into_iter()
        .map(|p| {
            let mut values = strings.clone();
            values.insert("purpose".into(), p.as_str().into());
            values.insert(
                "name".into(),
                strings.get(p.as_str()).cloned().unwrap_or_default(),
            );
            let what = format!("{}_what", p.as_str());
            values.insert(
                "what".into(),
                strings.get(&what).cloned().unwrap_or_default(),
            );
            fill(PURPOSE, &values)
        })
        .collect();
    let mut values = strings.clone();
    values.insert("lang".into(), lang.into());
    // Inserted after filling: already HTML, and JSON that must stay as it is.
    fill(PAGE, &values)
        .replace("{{purposes}}", &purposes)
        .replace("{{strings}}", &json_block(strings))
}

/// The language asked for (`?lang=it-IT`), else the browser's first known
/// one (`Accept-Language`), else English.
fn pick(request: &HttpRequest) -> &'static Built {
    let built = &*BUILT;
    let find = |tag: &str| {
        let primary = tag.split(['-', '_', ';']).next().unwrap_or_default().trim();
        built.iter().find(|b| b.lang.eq_ignore_ascii_case(primary))
    };
    let asked = web::Query::<BTreeMap<String, String>>::from_query(request.query_string())
        .ok()
        .and_then(|q| q.get("lang").and_then(|l| find(l)));
    let accepted = || {
        request
            .headers()
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').find_map(find))
    };
    asked.or_else(accepted).unwrap_or(&built[0])
}

async fn center(request: HttpRequest) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((REFERRER_POLICY, "no-referrer"))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(pick(&request).page.clone())
}

fn asset(content_type: &'static str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // The reminder is loaded by the site's pages, another origin.
        .insert_header((
            "cross-origin-resource-policy",
            HeaderValue::from_static("cross-origin"),
        ))
        .body(body)
}

/// Mounts the page, its assets and the reminder.
pub fn configure(config: &mut web::ServiceConfig) {
    let get = |path: &str, handler: fn(HttpRequest) -> HttpResponse| {
        web::resource(path)
            .route(web::get().to(move |r: HttpRequest| async move { handler(r) }))
            .default_service(method_not_allowed("GET"))
    };
    config.service(
        web::resource("/privacy")
            .route(web::get().to(center))
            .default_service(method_not_allowed("GET")),
    );
    config.service(get("/privacy/page.css", |_| {
        asset("text/css; charset=utf-8", CSS.to_owned())
    }));
    config.service(get("/privacy/page.js", |_| {
        asset("text/javascript; charset=utf-8", SCRIPT.to_owned())
    }));
    config.service(get("/privacy/reminder.js", |_| {
        asset("text/javascript; charset=utf-8", REMINDER_BUILT.clone())
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_the_same_words_and_every_placeholder_is_filled() {
        let english = strings(LOCALES[0].1).unwrap();
        for (lang, text) in LOCALES {
            let words = strings(text).unwrap();
            let missing: Vec<_> = english.keys().filter(|k| !words.contains_key(*k)).collect();
            let extra: Vec<_> = words.keys().filter(|k| !english.contains_key(*k)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{lang}: missing {missing:?}, extra {extra:?}"
            );
        }
        for built in &*BUILT {
            assert!(!built.page.contains("{{"), "{}: {}", built.lang, built.page);
            assert!(built.page.starts_with("<!doctype html>\n<html lang=\""));
            assert!(!REMINDER_BUILT.contains("/*WORDS*/"));
            for purpose in Purpose::CONSENTABLE {
                assert!(
                    built
                        .page
                        .contains(&format!("name=\"{}\"", purpose.as_str()))
                );
            }
        }
    }

    #[test]
    fn strings_are_escaped_in_html_and_in_the_json_block() {
        let strings = BTreeMap::from([("title".to_owned(), "<b>\"&</b>".to_owned())]);
        assert_eq!(
            fill("<h1>{{title}}</h1>", &strings),
            "<h1>&lt;b&gt;&quot;&amp;&lt;/b&gt;</h1>"
        );
        assert!(!json_block(&strings).contains('<'));
    }
}
