//! The location settings' checks.

use crate::cookies::SameSite;
use crate::manager::{JwtManagerBuilder, TokenLocation};
use crate::{BuildError, JwtManager};

fn cookies() -> JwtManagerBuilder {
    JwtManager::builder()
        .secret("locations-unit-test-secret-0123456789abcdef")
        .token_locations([TokenLocation::Headers, TokenLocation::Cookies])
}

/// The message of a refused build; panics when the build succeeds.
fn refused(builder: JwtManagerBuilder) -> String {
    match builder.build() {
        Err(BuildError::InvalidSetting { reason, .. }) => reason,
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("built"),
    }
}

#[test]
fn same_site_none_needs_secure() {
    let message = refused(
        cookies()
            .cookie_secure(false)
            .cookie_samesite(Some(SameSite::None)),
    );
    assert!(
        message.contains("SameSite=None") && message.contains("cookie_secure"),
        "{message}"
    );
    assert!(cookies()
        .cookie_samesite(Some(SameSite::None))
        .build()
        .is_ok());
    assert!(cookies()
        .cookie_secure(false)
        .cookie_samesite(Some(SameSite::Lax))
        .build()
        .is_ok());
}

#[test]
fn host_prefixed_names_need_secure_no_domain_and_the_root_path() {
    type Name = fn(JwtManagerBuilder, &'static str) -> JwtManagerBuilder;
    type Path = fn(JwtManagerBuilder, &'static str) -> JwtManagerBuilder;
    let settings: [(&str, Name, Path, &str); 4] = [
        (
            "access_cookie_name",
            |b, n| b.access_cookie_name(n),
            |b, p| b.access_cookie_path(p),
            "access_cookie_path",
        ),
        (
            "refresh_cookie_name",
            |b, n| b.refresh_cookie_name(n),
            |b, p| b.refresh_cookie_path(p),
            "refresh_cookie_path",
        ),
        (
            "access_csrf_cookie_name",
            |b, n| b.access_csrf_cookie_name(n),
            |b, p| b.access_csrf_cookie_path(p),
            "access_csrf_cookie_path",
        ),
        (
            "refresh_csrf_cookie_name",
            |b, n| b.refresh_csrf_cookie_name(n),
            |b, p| b.refresh_csrf_cookie_path(p),
            "refresh_csrf_cookie_path",
        ),
    ];
    for (name_setting, name, path, path_setting) in settings {
        let host = || name(cookies(), "__Host-x");
        assert!(host().build().is_ok(), "{name_setting}");
        for (builder, says) in [
            (host().cookie_secure(false), "cookie_secure"),
            (host().cookie_domain("example.com"), "cookie_domain"),
            (path(host(), "/api"), path_setting),
            // Browsers match the prefix whatever its case.
            (
                name(cookies(), "__host-x").cookie_secure(false),
                "cookie_secure",
            ),
        ] {
            let message = refused(builder);
            assert!(
                message.contains(name_setting) && message.contains(says),
                "{name_setting}: {message}"
            );
        }
        let secure = || name(cookies(), "__Secure-x");
        assert!(secure().cookie_domain("example.com").build().is_ok());
        assert!(path(secure(), "/api").build().is_ok());
        let message = refused(secure().cookie_secure(false));
        assert!(
            message.contains(name_setting) && message.contains("cookie_secure"),
            "{message}"
        );
    }
}

#[test]
fn csrf_needs_methods_and_a_way_to_the_client() {
    let message = refused(cookies().csrf_methods([]));
    assert!(message.contains("csrf_methods"), "{message}");
    assert!(cookies()
        .csrf_protect(false)
        .csrf_methods([])
        .build()
        .is_ok());
    // The value must reach the page somehow: in cookies, or in JSON answers.
    let message = refused(cookies().csrf_in_cookies(false));
    assert!(message.contains("csrf_in_cookies"), "{message}");
    assert!(cookies()
        .csrf_in_cookies(false)
        .csrf_protect(false)
        .build()
        .is_ok());
    // Without cookies as a location, nothing needs it.
    assert!(JwtManager::builder()
        .secret("locations-unit-test-secret-0123456789abcdef")
        .csrf_in_cookies(false)
        .build()
        .is_ok());
}

#[test]
fn a_domain_override_keeps_host_prefixed_cookies_valid() {
    let m = cookies().access_cookie_name("__Host-a").build().unwrap();
    assert!(m.cookies().domain("example.com").is_err());
    let m = cookies().build().unwrap();
    assert!(m.cookies().domain("example.com").is_ok());
}
