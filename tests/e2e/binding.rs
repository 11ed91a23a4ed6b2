//! Caseworker tokens bound to the calling system's certificate (issue 13, defect 6; RFC
//! 8705 `cnf` `x5t#S256`): a token issued to one case system is refused when another
//! system of the same organisation presents it, and audited as nothing released.

use serde_json::Value;

use crate::support::{self, CATEGORIES, Env, REHAB_UNIT, case_file_body, post, token_ttl, tokens};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_bound_to_one_system_is_refused_from_another_of_the_same_organisation() {
    let env = Env::new(5_000);
    let gw = env.start_gateway();
    let citizen = support::rehab_citizen();
    let url = gw.url("/api/v1/case-files");
    let body = case_file_body(&citizen, &CATEGORIES);
    let bound = env.issuer.mint_bound(
        tokens::AUDIENCE,
        "cw-anna",
        REHAB_UNIT,
        &["rehab-team-member"],
        token_ttl(),
        &env.pki.kk_system.sha256,
    );

    // Its own system: answered (sections denied without consent, but answered).
    let (status, _, file) = post(&env.kk(), &url, &bound, &body).await;
    assert_eq!(status, 200, "{file}");

    // The other kk system, with the same token: refused, nothing in the answer.
    let other = env.client(Some(&env.pki.kk_other));
    let (status, headers, problem) = post(&other, &url, &bound, &body).await;
    assert_eq!(status, 401, "{problem}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(problem["type"], "https://sammen.dk/problems/invalid-token");
    assert!(problem["detail"].as_str().unwrap().contains("bound to another client certificate"), "{problem}");
    assert!(problem.get("sections").is_none());

    // An unbound token still works from either system (binding is not required here).
    let unbound = env.rehab_token();
    for client in [env.kk(), other] {
        let (status, _, file): (_, _, Value) = post(&client, &url, &unbound, &body).await;
        assert_eq!(status, 200, "{file}");
    }
}
