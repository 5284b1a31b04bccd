//! Unit tests of the verification core: the memo, and the header's quick path.

use super::*;
use crate::JwtManager;

/// The guard fills this thread's memo only when the manager has it on, from the second
/// verification of a token on, and a hit gives back the very token that was verified.
#[test]
fn verified_tokens_are_remembered_only_when_on() {
    for on in [true, false] {
        let jwt = JwtManager::builder()
            .secret("memo-unit-test-secret-0123456789abcdef")
            .verified_token_cache(on)
            .build()
            .unwrap();
        let token = jwt.create_access_token("ada").unwrap();
        let req = http::Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .unwrap();
        let route = Route::new(jwt.core().clone(), Requirement::ACCESS);
        let owner = route.core.memo_owner;
        assert_eq!(owner.is_some(), on);
        let remembered =
            || owner.and_then(|o| cache::get(o, token.as_bytes(), TokenLocation::Headers));
        let verify = || match route.locate_and_decode(&RequestView::of(&req)).unwrap() {
            Admitted::Token(token) => token,
            Admitted::Anonymous(why) => panic!("{why}"),
        };
        verify();
        assert!(remembered().is_none(), "stored at its first verification");
        let second = verify();
        assert_eq!(remembered().is_some(), on);
        let third = verify();
        assert_eq!(Arc::ptr_eq(&third.0, &second.0), on);
        if let Some(remembered) = remembered() {
            assert!(Arc::ptr_eq(&remembered.0, &second.0));
        }
    }
}

/// The quick path of the `Authorization` header (its token's characters looked at only
/// on a memo miss) answers every header value as the careful path does, with the memo
/// on and off, before and after the token is remembered.
#[test]
fn the_quick_header_path_answers_as_the_careful_one() {
    for on in [true, false] {
        let jwt = JwtManager::builder()
            .secret("quick-path-unit-test-secret-0123456789abcdef")
            .verified_token_cache(on)
            .build()
            .unwrap();
        let t = jwt.create_access_token("ada").unwrap();
        let (head, tail) = t.split_at(t.len() / 2);
        let values: Vec<Vec<u8>> = [
            format!("Bearer {t}"),
            format!("Bearer {t}, Basic YWRhOmFkYQ=="),
            format!("Basic YWRhOmFkYQ==, Bearer {t}"),
            format!("Bearer {t} x"),
            format!("Bearer {t}\t"),
            format!("Bearer {t} "),
            format!("bearer {t}"),
            format!("Bearer  {t}"),
            format!("Bearer {t},"),
            format!("Bearer {t}, Bearer {t}"),
            format!("Bearer {head},{tail}"),
            format!("Bearer {head} {tail}"),
            format!("Bearer {head}\t{tail}"),
        ]
        .into_iter()
        .map(String::into_bytes)
        .chain([format!("Bearer {t}")
            .into_bytes()
            .into_iter()
            .chain(*b"\xc3\xa9")
            .collect()])
        .collect();
        let route = Arc::new(Route::new(jwt.core().clone(), Requirement::ACCESS));
        let outcome = |result: Result<Admitted, AuthError>| match result {
            Ok(Admitted::Token(token)) => Ok(token.identity().to_owned()),
            Ok(Admitted::Anonymous(why)) => Err(why.message().to_owned()),
            Err(err) => Err(err.message().to_owned()),
        };
        for round in 0..3 {
            for value in &values {
                let req = http::Request::get("/")
                    .header(
                        "authorization",
                        http::HeaderValue::from_bytes(value).unwrap(),
                    )
                    .body(())
                    .unwrap();
                let view = RequestView::of(&req);
                let careful = outcome(route.locate_and_decode(&view));
                let Verdict::Ready(quick) = route.verify(&view) else {
                    panic!("decided at once")
                };
                assert_eq!(
                    outcome(quick),
                    careful,
                    "{:?}, memo {on}, round {round}",
                    String::from_utf8_lossy(value)
                );
            }
        }
    }
}
