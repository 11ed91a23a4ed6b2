//! `sammen demo`: the main job, run by `cargo run --release -- demo`.
//!
//! One process, one command: the sandbox source systems (over TLS), a development PKI
//! (CA, gateway server certificate, one caseworker-system client certificate), a
//! caseworker token issuer, and the gateway with the embedded store. It seeds one consent,
//! assembles a case file and sends a letter to the citizen's GP through the real HTTPS API
//! to show that everything answers, and prints ready-to-paste `curl` commands. Request bodies go into files, so no CPR number
//! is printed.
//!
//! It reads nothing from the repository: the policy set, the configuration's defaults and
//! the portal's templates and stylesheet are compiled in, so it runs from any directory
//! (its files go under `<data_dir>/demo`, by default `./data/demo`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{Duration, Months};
use consent::clock::{Clock, SystemClock};
use consent::{Actor, Category, Channel, Period, Purpose, Requester, TermsInput, UnitId};
use gateway::dev::{DevIssuer, DevPki};
use gateway::portal::{OidcSettings, PortalSettings};
use gateway::settings::{IssuerSettings, SystemSettings};
use serde_json::{Value, json};

use super::Cli;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the gateway listens.
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Assemble one case file, print the commands, and stop (instead of serving until ctrl-c).
    #[arg(long)]
    once: bool,
}

const AUDIENCE: &str = "sammen";
const ISSUER: &str = "https://idp.demo.sammen.invalid";
const SYSTEM: &str = "demo-case-system";
const CASEWORKER_UNIT: &str = "kk.jobcenter.rehab";
const PORTAL_CLIENT: &str = "sammen-portal";
const CATEGORIES: [&str; 5] = ["health.lae265", "health.correspondence", "jobcenter.case", "jobnet.cv", "social.case"];

pub async fn run(cli: &Cli, args: &Args) -> anyhow::Result<()> {
    let mut settings = cli.settings()?;
    // The compiled-in policy set unless a directory is given (--policies or [policies] dir).
    let policy_source = match &settings.policies.dir {
        Some(dir) if !dir.is_dir() => anyhow::bail!("the policy directory {} does not exist", dir.display()),
        Some(dir) => policies::PolicySource::Dir(dir.clone()),
        None => policies::PolicySource::Builtin,
    };
    let dir = settings.data_dir.join("demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;

    // Credentials: the PKI and the caseworker token issuer.
    let pki = DevPki::generate(&dir.join("pki"), &["localhost", "127.0.0.1"], SYSTEM)?;
    let issuer = DevIssuer::generate(ISSUER)?;
    let jwks = dir.join("jwks.json");
    issuer.write_jwks(&jwks)?;

    // The source systems, over TLS with their own CA.
    let sandbox =
        sandbox::Sandbox::start(sandbox::SandboxConfig { tls: Some(sandbox::tls::generate()?), ..Default::default() })
            .await?;

    settings.data_dir = dir.clone();
    settings.server.listen = args.listen;
    settings.server.cert_file = Some(pki.server_cert.clone());
    settings.server.key_file = Some(pki.server_key.clone());
    settings.server.client_ca_file = Some(pki.ca_cert.clone());
    settings.systems = vec![SystemSettings {
        id: SYSTEM.into(),
        organisation: UnitId::parse("kk")?,
        purposes: settings.domain.purposes.keys().cloned().collect(),
        cert_sha256: Some(pki.client_sha256.clone()),
        cert_subject_cn: None,
        paper_consents: true,
    }];
    settings.caseworker_issuer = Some(IssuerSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks_url: None,
        jwks_file: Some(jwks),
        jwks_ca_file: None,
        jwks_refresh_secs: 300,
        leeway_secs: 30,
        claims: Default::default(),
        // The demo's tokens are bound to its client certificate (RFC 8705).
        require_certificate_binding: true,
    });
    settings.connectors = sandbox.connectors_config();
    // Where citizens live: the sandbox's person register, so the statute of
    // retssikkerhedsloven § 11 a, stk. 2 can apply.
    settings.residence =
        Some(gateway::settings::ResidenceSettings { source: sandbox.person_register_config(), cache_ms: 10_000 });
    // Acting for someone else: the sandbox's power-of-attorney registry, in which the second
    // synthetic citizen holds a power of attorney for the first. The pseudonym key is kept
    // in the demo's directory, so a holder keeps their pseudonymous id across runs.
    settings.representation = Some(gateway::settings::representation::RepresentationSettings {
        source: sandbox.fuldmagt_config(),
        pseudonym_key: demo_pseudonym_key(&dir)?,
    });
    // Letters to citizens go to the sandbox's Digital Post mailbox (GET /admin/mailbox).
    settings.notifications = Some(gateway::settings::notifications::NotificationSettings {
        mailbox: sandbox.mailbox_config(),
        poll_ms: 1_000,
        expiry_scan_ms: 3_600_000,
        expiry_warning_days: 30,
        sender: "sammen (demo)".into(),
    });
    // Messages to citizens' GPs through the sandbox hub, sent as the job centre.
    settings.health =
        Some(gateway::settings::health::HealthSettings::new("5790000121441", "Københavns Kommune, Jobcenter"));
    // The citizen portal, logging in through the sandbox's MitID broker.
    let sandbox_ca = dir.join("sandbox-ca.pem");
    std::fs::write(&sandbox_ca, sandbox.ca_pem().context("the sandbox serves TLS")?)?;
    let portal_secret = gateway::portal::session::random_token();
    let portal_port = if args.listen.port() == 0 { 0 } else { args.listen.port() + 1 };
    settings.portal = Some(PortalSettings {
        listen: SocketAddr::new(args.listen.ip(), portal_port),
        cert_file: pki.server_cert.clone(),
        key_file: pki.server_key.clone(),
        public_url: String::new(),
        idle_timeout_secs: 15 * 60,
        absolute_timeout_secs: 8 * 3600,
        log_page_size: 25,
        login_per_minute: 30,
        oidc: OidcSettings {
            issuer: sandbox.broker_url(),
            client_id: PORTAL_CLIENT.into(),
            client_secret: portal_secret.clone(),
            ca_file: Some(sandbox_ca),
            cpr_claim: "dk.cpr".into(),
            scopes: vec!["mitid".into(), "ssn".into()],
            // The sandbox broker speaks https (with the demo's CA).
            allow_insecure_issuer: false,
        },
    });

    let store = consent::store::open(&settings.store.engine()?, &settings.data_dir)?;
    let gateway = gateway::app::start_with_store(settings, store).await?;

    // One consent, as the citizen would have granted it in the portal (through the
    // gateway's consent service, so its audit record is written with it).
    let citizen = sandbox::citizens::cpr_of(0);
    let who = sandbox::citizens::find(&citizen).map(|c| c.name()).unwrap_or_default();
    let consents = gateway.consents();
    let now = SystemClock.now();
    let granted = consents
        .grant(
            TermsInput {
                citizen,
                grantee: UnitId::parse(CASEWORKER_UNIT)?,
                include_subunits: false,
                purpose: Purpose::parse("rehabilitation-team")?,
                categories: ["health.lae265", "health.correspondence", "jobcenter.case", "jobnet.cv"]
                    .iter()
                    .map(|c| Category::parse(c))
                    .collect::<Result<BTreeSet<_>, _>>()?,
                period: Period { from: now, until: now.checked_add_months(Months::new(6)).context("period")? },
                data_period: None,
                text_version: "demo-1".into(),
                text_body: "Du giver rehabiliteringsteamet i Jobcenter København lov til at se din lægeerklæring, \
                            breve fra din læge, din sag i jobcentret og dit CV i 6 måneder."
                    .into(),
            },
            &citizen,
            &Actor::citizen(Channel::Portal),
            now,
        )
        .await?;

    // One pending request for the same citizen, to answer in the portal.
    let requested = consents
        .request(
            TermsInput {
                citizen,
                grantee: UnitId::parse(CASEWORKER_UNIT)?,
                include_subunits: false,
                purpose: Purpose::parse("rehabilitation-team")?,
                categories: ["health.lae265", "jobcenter.case"].iter().map(|c| Category::parse(c)).collect::<Result<
                    BTreeSet<_>,
                    _,
                >>(
                )?,
                period: Period { from: now, until: now.checked_add_months(Months::new(4)).context("period")? },
                data_period: None,
                text_version: "demo-request-1".into(),
                text_body: "Jeg giver rehabiliteringsteamet i Jobcenter København lov til at se min lægeerklæring \
                            (LÆ 265) og min sag i jobcentret i 4 måneder. Jeg kan til enhver tid trække det tilbage."
                    .into(),
            },
            Requester { caseworker: "anna.jensen".into(), system: SYSTEM.into() },
            "Vi forbereder dit møde med rehabiliteringsteamet og vil gerne se lægens erklæring og din sag.".into(),
            now + Duration::days(14),
            &Actor::caseworker(SYSTEM, "anna.jensen", UnitId::parse(CASEWORKER_UNIT)?, "demo-seed"),
            now,
        )
        .await?;

    let url = format!("https://localhost:{}", gateway.addr.port());
    let portal_port = gateway.portal_addr.context("the portal did not start")?.port();
    let portal_url = format!("https://localhost:{portal_port}");
    sandbox.register_broker_client(sandbox::broker::BrokerClient {
        client_id: PORTAL_CLIENT.into(),
        client_secret: portal_secret,
        redirect_uris: vec![format!("{portal_url}/auth/callback")],
        post_logout_redirect_uris: vec![format!("{portal_url}/")],
    });

    // A caseworker in the rehabilitation team, and the request bodies.
    let token = issuer.mint_bound(
        AUDIENCE,
        "anna.jensen",
        CASEWORKER_UNIT,
        &["rehab-team-member"],
        Duration::hours(8),
        &pki.client_sha256,
    );
    std::fs::write(dir.join("token"), &token)?;
    // A job centre caseworker, who may order the GP's statement (LÆ 261).
    let jobcenter_token = issuer.mint_bound(
        AUDIENCE,
        "jens.hansen",
        CASEWORKER_UNIT,
        &["jobcenter-caseworker"],
        Duration::hours(8),
        &pki.client_sha256,
    );
    std::fs::write(dir.join("jobcenter-token"), &jobcenter_token)?;
    write_json(
        &dir.join("statement-request.json"),
        &json!({
            "citizen": citizen.expose(), "purpose": "rehabilitation-team",
            "questions": "Hvilke helbredsmæssige forhold har betydning for borgerens arbejdsevne?\nHvad er prognosen?",
            "deadline": (now + Duration::days(30)).date_naive().to_string(),
        }),
    )?;
    let letter_body = json!({
        "citizen": citizen.expose(), "purpose": "rehabilitation-team",
        "subject": "Rehabiliteringsteamets indstilling",
        "text": "Rehabiliteringsteamet indstiller til et ressourceforløb på 12 måneder.\nVenlig hilsen\nRehabiliteringsteamet",
    });
    write_json(&dir.join("letter.json"), &letter_body)?;
    let case_file_body = json!({
        "citizen": citizen.expose(), "purpose": "rehabilitation-team",
        "categories": CATEGORIES, "case_reference": "DEMO-2026-001",
    });
    write_json(&dir.join("case-file-request.json"), &case_file_body)?;
    let second = sandbox::citizens::cpr_of(1);
    write_json(
        &dir.join("consent-request.json"),
        &json!({
            "citizen": second.expose(), "purpose": "rehabilitation-team",
            "categories": ["health.lae265", "jobcenter.case"],
            "period": { "until": (now + Duration::days(120)).to_rfc3339() },
            "explanation": "Vi forbereder dit møde med rehabiliteringsteamet og vil gerne se din lægeerklæring.",
        }),
    )?;

    // The coordinated effort: citizen 7 (in a resource programme) has a plan with two
    // departments (the rehabilitation team and the social services) in the sandbox's plan
    // service, and consents to all of Københavns Kommune seeing the departments' summaries
    // and taking part in the plan.
    let planned = sandbox::citizens::cpr_of(7);
    let planned_who = sandbox::citizens::find(&planned).map(|c| c.name()).unwrap_or_default();
    let coordinated = consents
        .grant(
            TermsInput {
                citizen: planned,
                grantee: UnitId::parse("kk")?,
                include_subunits: true,
                purpose: Purpose::parse("coordinated-plan")?,
                categories: ["jobcenter.summary", "social.summary", "health.summary", "plan"]
                    .iter()
                    .map(|c| Category::parse(c))
                    .collect::<Result<BTreeSet<_>, _>>()?,
                period: Period { from: now, until: now.checked_add_months(Months::new(6)).context("period")? },
                data_period: None,
                text_version: "demo-plan-1".into(),
                text_body: "Du giver Københavns Kommunes forvaltninger lov til at se et overblik over hinandens \
                            kontakt med dig og til at arbejde i én fælles plan med dig i 6 måneder."
                    .into(),
            },
            &planned,
            &Actor::citizen(Channel::Portal),
            now,
        )
        .await?;
    // A social caseworker, the plan's second department.
    let social_token = issuer.mint_bound(
        AUDIENCE,
        "sofie.dahl",
        "kk.social",
        &["social-caseworker"],
        Duration::hours(8),
        &pki.client_sha256,
    );
    std::fs::write(dir.join("social-token"), &social_token)?;
    let overview_body = json!({ "citizen": planned.expose(), "purpose": "coordinated-plan" });
    write_json(&dir.join("overview-request.json"), &overview_body)?;
    write_json(&dir.join("plan-read.json"), &overview_body)?;
    let effort_body = |version: u64| {
        json!({
            "citizen": planned.expose(), "purpose": "coordinated-plan", "version": version,
            "effort": { "id": "e-2", "title": "Socialpædagogisk støtte og bostøtte",
                        "description": "Støtte i hjemmet to gange om ugen; hjælp til at finde egen bolig.",
                        "from": "2023-04-01" },
        })
    };

    // Prove it works: one case file through the real API.
    let client = client(&pki)?;
    let answer: Value = client
        .post(format!("{url}/api/v1/case-files"))
        .bearer_auth(&token)
        .json(&case_file_body)
        .send()
        .await
        .context("calling the gateway")?
        .error_for_status()
        .context("the gateway refused the demo's case-file request")?
        .json()
        .await?;

    // And one letter to the citizen's GP, stored for the background sender.
    let letter: Value = client
        .post(format!("{url}/api/v1/health/letters"))
        .bearer_auth(&token)
        .header("idempotency-key", "demo-letter-1")
        .json(&letter_body)
        .send()
        .await
        .context("calling the gateway")?
        .error_for_status()
        .context("the gateway refused the demo's letter")?
        .json()
        .await?;

    println!();
    println!("sammen demo is running. Everything lives in {}", dir.display());
    println!();
    println!("  gateway (caseworker API)  {url}/api/v1  (OpenAPI: {url}/api/v1/openapi.json)");
    println!("  sandbox admin (faults)    {}", sandbox.admin_url());
    println!("  MitID broker (sandbox)    {}", sandbox.broker_url());
    println!(
        "  person register (sandbox) {}  (where citizens live; PUT /admin/residence moves one)",
        sandbox.url(sandbox::Source::Cpr)
    );
    println!("  Digital Post (sandbox)    {}/admin/mailbox  (the letters citizens get)", sandbox.admin_url());
    println!(
        "  fuldmagt (sandbox)        {}  (powers of attorney; PUT /admin/fuldmagt/{{reference}} revokes one)",
        sandbox.url(sandbox::Source::Fuldmagt)
    );
    println!("  policy set                {policy_source}");
    println!();
    println!("Seeded: {who} ({citizen}, synthetic) granted consent {} to {CASEWORKER_UNIT}", granted.id);
    println!("for rehabilitation-team: LÆ 265, MedCom letters, the jobcenter case and the CV — not social.case.");
    println!(
        "A letter to {who}'s GP was stored for sending just now ({}, {}).",
        letter["id"].as_str().unwrap_or("?"),
        letter["state"].as_str().unwrap_or("?")
    );
    println!();
    println!("A case file, assembled just now through the API as caseworker anna.jensen ({CASEWORKER_UNIT}):");
    for s in answer["sections"].as_array().into_iter().flatten() {
        let basis = match (s["basis"]["type"].as_str(), s["basis"]["reference"].as_str()) {
            (Some(t), Some(r)) => format!("{t}:{r}"),
            _ => "no basis".into(),
        };
        println!(
            "  {:<22} {:<9} {:<46} {} document(s)",
            s["category"].as_str().unwrap_or("?"),
            s["status"].as_str().unwrap_or("?"),
            basis,
            s["documents"].as_array().map_or(0, Vec::len)
        );
    }
    let d = dir.display();
    let tls = format!("--cacert {d}/pki/ca.pem --cert {d}/pki/client.pem --key {d}/pki/client-key.pem");
    println!();
    println!("Try it yourself (the token is valid for 8 hours):");
    println!();
    println!("  # assemble the case file");
    println!("  curl -s {tls} \\");
    println!("    -H \"authorization: Bearer $(cat {d}/token)\" -H 'content-type: application/json' \\");
    println!("    -d @{d}/case-file-request.json {url}/api/v1/case-files");
    println!();
    println!("  # ask another citizen for consent, then read the request's status");
    println!("  curl -s {tls} \\");
    println!("    -H \"authorization: Bearer $(cat {d}/token)\" -H 'content-type: application/json' \\");
    println!("    -d @{d}/consent-request.json {url}/api/v1/consent-requests");
    println!();
    println!("  # order the GP's statement (LÆ 261; the sandbox's GP answers with an LÆ 265 that the next");
    println!("  # case file shows), as a job centre caseworker");
    println!("  curl -s {tls} \\");
    println!("    -H \"authorization: Bearer $(cat {d}/jobcenter-token)\" -H 'content-type: application/json' \\");
    println!("    -d @{d}/statement-request.json {url}/api/v1/health/statement-requests");
    println!();
    println!("  # send the team's recommendation to the GP (the same Idempotency-Key never sends twice),");
    println!("  # then read its state from the answer's Location");
    println!("  curl -s {tls} \\");
    println!("    -H \"authorization: Bearer $(cat {d}/token)\" -H 'content-type: application/json' \\");
    println!("    -H 'idempotency-key: demo-letter-2' -d @{d}/letter.json {url}/api/v1/health/letters");
    println!("  curl -s {tls} \\");
    println!(
        "    -H \"authorization: Bearer $(cat {d}/token)\" {url}/api/v1/health/messages/{}",
        letter["id"].as_str().unwrap_or("ID")
    );
    println!();
    println!("  # make a source fail and see only its section change");
    println!("  curl -s -X PUT -H 'content-type: application/json' -d '{{\"fault\": {{\"kind\": \"http500\"}}}}' \\");
    println!("    {}/admin/faults/jobnet_cv", sandbox.admin_url());
    println!();
    println!("The citizen portal: open it in a browser (the demo's CA is in {d}/pki/ca.pem; accept the warning)");
    println!("and log in on the sandbox MitID broker as {who} (the first citizen in the list), level Betydelig.");
    // The overview across departments, and the social services' update of their effort.
    let overview: Value = client
        .post(format!("{url}/api/v1/overviews"))
        .bearer_auth(&token)
        .json(&overview_body)
        .send()
        .await
        .context("calling the gateway")?
        .error_for_status()
        .context("the gateway refused the demo's overview")?
        .json()
        .await?;
    let written: Value = client
        .post(format!("{url}/api/v1/plans/efforts"))
        .bearer_auth(&social_token)
        .json(&effort_body(1))
        .send()
        .await
        .context("calling the gateway")?
        .error_for_status()
        .context("the gateway refused the demo's plan update")?
        .json()
        .await?;
    let version = written["version"].as_u64().unwrap_or(1);
    write_json(&dir.join("plan-effort.json"), &effort_body(version))?;
    println!();
    println!(
        "The coordinated effort: {planned_who} ({}, synthetic) granted consent {} to all of Københavns Kommune",
        planned.masked(),
        coordinated.id
    );
    println!("for coordinated-plan: the departments' summaries and the plan. The overview, just now as anna.jensen:");
    for d in overview["departments"].as_array().into_iter().flatten() {
        println!(
            "  {:<18} {:<12} {}",
            d["category"].as_str().unwrap_or_default(),
            d["status"].as_str().unwrap_or_default(),
            d["summary"]["responsibleUnit"].as_str().unwrap_or_default()
        );
    }
    println!(
        "The plan (two departments) updated just now by the social services (sofie.dahl, kk.social): effort {} written, version {version}.",
        written["element"].as_str().unwrap_or_default()
    );
    println!();
    println!("  # the overview: who works with the citizen, measures, next appointments, open cases");
    println!("  curl -s {tls} \\");
    println!("    -H \"authorization: Bearer $(cat {d}/token)\" -H 'content-type: application/json' \\");
    println!("    -d @{d}/overview-request.json {url}/api/v1/overviews");
    println!();
    println!("  # read the plan (note its version), then update the social services' effort against it;");
    println!("  # sent twice, the second is 409 naming the newer version");
    println!("  curl -s {tls} \\");
    println!("    -H \"authorization: Bearer $(cat {d}/social-token)\" -H 'content-type: application/json' \\");
    println!("    -d @{d}/plan-read.json {url}/api/v1/plans/read");
    println!("  curl -s {tls} \\");
    println!("    -H \"authorization: Bearer $(cat {d}/social-token)\" -H 'content-type: application/json' \\");
    println!("    -d @{d}/plan-effort.json {url}/api/v1/plans/efforts");
    println!();
    println!(
        "{who} has one request waiting ({}) to approve or reject, sees their own data under Min sag, can revoke,\nblock, read Min log (and download it with proofs), and choose letters under Beskeder.",
        requested.id
    );
    let holder = &sandbox::citizens()[1];
    println!(
        "{} (the second citizen in the list) holds a power of attorney for {who} in the sandbox's registry:\nlog in as {} and choose Fuldmagter to act on {who}'s behalf (\"Du handler på vegne af {who}\").",
        holder.name(),
        holder.name()
    );
    println!();
    println!("Portal (borgere): {portal_url}/");

    if args.once {
        gateway.shutdown().await;
        return Ok(());
    }
    println!();
    println!("Press ctrl-c to stop.");
    gateway.run_until_signal().await?;
    drop(sandbox);
    Ok(())
}

/// The demo's pseudonym key for holders of powers of attorney: read from
/// `<dir>/pseudonym.key`, made (32 random bytes, hex) on the first run.
fn demo_pseudonym_key(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("pseudonym.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        return Ok(k.trim().to_string());
    }
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    let hex = hex::encode(key);
    std::fs::write(&path, &hex).with_context(|| format!("writing {}", path.display()))?;
    Ok(hex)
}

fn write_json(path: &Path, v: &Value) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(v)?).with_context(|| format!("writing {}", path.display()))
}

/// An HTTPS client that trusts the demo CA and presents the caseworker system's certificate.
fn client(pki: &DevPki) -> anyhow::Result<reqwest::Client> {
    let read = |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let mut identity = read(&pki.client_cert)?;
    identity.extend(read(&pki.client_key)?);
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&read(&pki.ca_cert)?)?)
        .identity(reqwest::Identity::from_pem(&identity)?)
        .timeout(std::time::Duration::from_secs(30))
        .build()?)
}
