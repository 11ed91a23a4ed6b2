//! Every connector against the sandbox over real HTTP (and TLS), in-process on
//! 127.0.0.1:0: data, no data, the data period, and every injected fault.

use std::sync::Arc;
use std::time::{Duration, Instant};

use connectors::{Connector, ConnectorsConfig, Document, FetchError, FetchRequest, Kinds, Registry};
use consent::{Category, Cpr, DataPeriod};
use sandbox::{Fault, RunningSandbox, Sandbox, SandboxConfig, Source, SourceFaults};

const TIMEOUT_MS: u64 = 1_000;
/// Retries after a first attempt (idempotent reads, transport failures and 5xx).
const MAX_RETRIES: u32 = 2;
/// A delayed source answers only after this: far beyond the timeout.
const SLOW_SOURCE_MS: u64 = 30 * TIMEOUT_MS;
/// Every wait in these tests is bounded by this.
const BOUND: Duration = Duration::from_secs(20);

fn cat(s: &str) -> Category {
    Category::parse(s).unwrap()
}

fn citizen(i: usize) -> Cpr {
    sandbox::citizens()[i].cpr
}

fn tuned(mut cfg: ConnectorsConfig) -> ConnectorsConfig {
    for s in cfg.sources.values_mut() {
        s.timeout_ms = TIMEOUT_MS;
        s.backoff_ms = 20;
        s.max_retries = MAX_RETRIES;
        s.max_response_bytes = 256 * 1024;
    }
    cfg
}

async fn start(cfg: SandboxConfig) -> (RunningSandbox, Registry) {
    let running = tokio::time::timeout(BOUND, Sandbox::start(SandboxConfig { oversized_bytes: 1024 * 1024, ..cfg }))
        .await
        .expect("sandbox starts in time")
        .expect("sandbox starts");
    let registry = Registry::from_config(&tuned(running.connectors_config())).expect("valid configuration");
    (running, registry)
}

async fn fetch_with(
    registry: &Registry,
    who: Cpr,
    category: &str,
    period: Option<DataPeriod>,
) -> Result<Vec<Document>, FetchError> {
    let connector = registry.for_category(&cat(category)).expect("a connector serves the category");
    let req = FetchRequest {
        citizen: who,
        category: cat(category),
        data_period: period,
        request_id: "test-req".into(),
        clock: std::sync::Arc::new(consent::clock::SystemClock),
    };
    tokio::time::timeout(BOUND, connector.fetch(&req)).await.expect("fetch ends within the bound")
}

async fn fetch(registry: &Registry, who: Cpr, category: &str) -> Result<Vec<Document>, FetchError> {
    fetch_with(registry, who, category, None).await
}

fn from(date: &str) -> Option<DataPeriod> {
    Some(DataPeriod { from: date.parse().unwrap(), until: None })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_from_every_source() {
    let (running, registry) = start(SandboxConfig::default()).await;
    let sick = citizen(0);

    let lae = fetch(&registry, sick, "health.lae265").await.unwrap();
    assert_eq!(lae.len(), 1);
    assert_eq!(lae[0].kind, "lae265");
    assert_eq!(lae[0].source.system, "mediconnect");
    assert!(lae[0].source.organisation.is_some());
    assert_eq!(lae[0].content["patient"]["cpr"], sick.expose());
    assert!(lae[0].content["fields"].as_array().unwrap().iter().any(|f| f["name"] == "Funktionsevne"));
    assert_eq!(lae[0].sha256.len(), 64);

    let letters = fetch(&registry, sick, "health.correspondence").await.unwrap();
    assert_eq!(letters.len(), 2);
    assert!(letters.iter().all(|d| d.kind == "xdis91"));
    assert!(letters.iter().any(|d| d.content["text"].as_str().unwrap().contains("sygemeldt")));
    // One positive receipt per message received.
    let receipts = running.receipts();
    assert_eq!(receipts.len(), 3);
    assert!(receipts.iter().all(|r| r.letter.statistical_code == "XCTL03"));

    let case = fetch(&registry, sick, "jobcenter.case").await.unwrap();
    let kinds: Vec<&str> = case.iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(kinds, ["visitation", "contact", "contact", "contact", "plan"]);
    assert_eq!(case[0].content["targetGroup"], "sygedagpengemodtager");
    assert_eq!(case[0].source.organisation.as_deref(), Some("Jobcenter København"));

    let benefits = fetch(&registry, sick, "jobcenter.benefits").await.unwrap();
    assert_eq!(benefits.len(), 3);
    assert!(benefits.iter().all(|d| d.kind == "payment" && d.content["benefit"] == "sygedagpenge"));

    let cv = fetch(&registry, sick, "jobnet.cv").await.unwrap();
    assert_eq!(cv.len(), 1);
    assert_eq!(cv[0].content["searchable"], false);
    assert!(cv[0].content["languages"].as_array().unwrap().len() >= 2);

    let social = fetch(&registry, citizen(1), "social.case").await.unwrap();
    assert_eq!(social.len(), 3);
    assert!(social.iter().all(|d| d.kind == "measure"));
    assert!(social[0].content["legal_paragraph"].as_str().unwrap().starts_with("serviceloven §"));

    for c in registry.all() {
        tokio::time::timeout(BOUND, c.health()).await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_data_anywhere() {
    let (_running, registry) = start(SandboxConfig::default()).await;
    let nobody = citizen(2);
    // A valid CPR number no source knows (not from the sandbox's block).
    let unknown = Cpr::parse("1505801234").unwrap();
    for who in [nobody, unknown] {
        for category in [
            "health.lae265",
            "health.correspondence",
            "jobcenter.case",
            "jobcenter.benefits",
            "social.case",
            "jobnet.cv",
        ] {
            assert_eq!(fetch(&registry, who, category).await, Ok(vec![]), "{category}");
        }
    }
    // The social citizen has no health, job centre or CV data.
    assert_eq!(fetch(&registry, citizen(1), "jobnet.cv").await, Ok(vec![]));
    assert_eq!(fetch(&registry, citizen(1), "health.lae265").await, Ok(vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_period_is_respected() {
    let (_running, registry) = start(SandboxConfig::default()).await;
    let sick = citizen(0);
    let letters = fetch_with(&registry, sick, "health.correspondence", from("2024-01-01")).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(letters.iter().all(|d| d.date.unwrap() >= "2024-01-01".parse().unwrap()));
    let case = fetch_with(&registry, sick, "jobcenter.case", from("2025-01-01")).await.unwrap();
    assert!(case.iter().all(|d| d.date.unwrap() >= "2025-01-01".parse().unwrap()));
    assert!(case.iter().any(|d| d.kind == "plan"));
    assert!(!case.iter().any(|d| d.kind == "visitation"), "visited in 2024");
    let until = Some(DataPeriod { from: "2025-02-01".parse().unwrap(), until: Some("2025-02-28".parse().unwrap()) });
    assert_eq!(fetch_with(&registry, sick, "jobcenter.benefits", until).await.unwrap().len(), 1);
    // Measures overlapping the period: the one that ended in 2022 is left out.
    let social = fetch_with(&registry, citizen(1), "social.case", from("2023-01-01")).await.unwrap();
    assert_eq!(social.len(), 2);
    assert_eq!(fetch_with(&registry, sick, "jobnet.cv", from("2025-06-01")).await.unwrap(), vec![]);
    assert_eq!(fetch_with(&registry, sick, "health.lae265", from("2030-01-01")).await.unwrap(), vec![]);
}

/// Who and what each source is asked about in the fault tests (someone with data there).
fn probe(source: Source) -> (Cpr, &'static str) {
    match source {
        Source::Mediconnect => (citizen(0), "health.correspondence"),
        Source::Jobcenter => (citizen(0), "jobcenter.case"),
        Source::Social => (citizen(1), "social.case"),
        Source::JobnetCv => (citizen(0), "jobnet.cv"),
        Source::Cpr => unreachable!("the person register is not a connector"),
        Source::Mailbox => unreachable!("the mailbox is not a connector"),
        Source::Plan => (citizen(7), "plan"),
        Source::Fuldmagt => unreachable!("the power-of-attorney registry is not a connector"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_gives_its_outcome_within_the_timeout() {
    let (running, registry) = start(SandboxConfig::default()).await;
    let admin = reqwest::Client::new();
    let faults: [(Fault, &str); 8] = [
        (Fault::Delay { ms: SLOW_SOURCE_MS }, "timeout"),
        (Fault::Http500, "unavailable"),
        (Fault::ConnectionReset, "unavailable"),
        (Fault::MalformedBody, "invalid_response"),
        (Fault::TruncatedBody, "invalid_response"),
        (Fault::OversizedBody, "invalid_response"),
        (Fault::WrongPatient, "invalid_response"),
        (Fault::EntityExpansion, "invalid_response"),
    ];
    for source in Source::ALL {
        let (who, category) = probe(source);
        for (fault, status) in faults {
            // Through the admin endpoint, as an external test driver would.
            let url = format!("{}/admin/faults/{}", running.admin_url(), source.name());
            let put = admin.put(&url).json(&SourceFaults::fault(fault)).timeout(BOUND).send().await.unwrap();
            assert_eq!(put.status(), 204);
            running.forget_visits();
            let started = Instant::now();
            let outcome = fetch(&registry, who, category).await;
            let elapsed = started.elapsed();
            let err = outcome.expect_err(&format!("{source:?} {fault:?} must fail"));
            assert_eq!(err.status(), status, "{source:?} {fault:?}: {err}");
            // The attempts, counted by the source: a transport failure or a 5xx is retried
            // up to the limit; a timeout has used the whole budget after the first attempt.
            let attempts: Vec<_> = running.visits().into_iter().filter(|v| v.source == source.name()).collect();
            let expected = match fault {
                Fault::Delay { .. } => Some(1),
                Fault::Http500 | Fault::ConnectionReset => Some(1 + MAX_RETRIES as usize),
                _ => None,
            };
            match expected {
                Some(n) => {
                    assert_eq!(attempts.len(), n, "{source:?} {fault:?}: {attempts:?}");
                    assert!(attempts.iter().all(|v| v.path == attempts[0].path), "one call retried: {attempts:?}");
                }
                None => assert!(!attempts.is_empty(), "{source:?} {fault:?}: the source was never asked"),
            }
            assert!(!err.cause().contains(who.expose()), "a cause never holds the CPR number");
            // The status says the timeout cut the slow source; the time only shows the fetch
            // did not wait for the source (30 s), with half of that for a busy machine.
            assert!(
                elapsed < Duration::from_millis(SLOW_SOURCE_MS / 2),
                "{source:?} {fault:?} took {elapsed:?}: it waited for the source, not the timeout"
            );
        }
        running.clear_faults();
        assert!(fetch(&registry, who, category).await.is_ok(), "{source:?} recovers");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_and_health_probes() {
    let (running, registry) = start(SandboxConfig::default()).await;
    let jobnet = registry.get("jobnet_cv").unwrap();
    running.set_faults(Source::JobnetCv, SourceFaults { latency_ms: 200, fault: None });
    let started = Instant::now();
    assert_eq!(fetch(&registry, citizen(0), "jobnet.cv").await.unwrap().len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(200));
    running.set_faults(Source::JobnetCv, SourceFaults::fault(Fault::Http500));
    let err = tokio::time::timeout(BOUND, jobnet.health()).await.unwrap().unwrap_err();
    assert_eq!(err.status(), "unavailable");
    running.set_faults(Source::JobnetCv, SourceFaults::fault(Fault::Delay { ms: 5_000 }));
    let err = tokio::time::timeout(BOUND, jobnet.health()).await.unwrap().unwrap_err();
    assert_eq!(err.status(), "timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_from_configuration() {
    let mut cfg = SandboxConfig::default();
    cfg.faults.insert(Source::Social, SourceFaults::fault(Fault::Http500));
    let (_running, registry) = start(cfg).await;
    let err = fetch(&registry, citizen(1), "social.case").await.unwrap_err();
    assert_eq!(err.status(), "unavailable");
    assert!(err.cause().contains("SOAP fault Server"), "{err}");
    assert!(fetch(&registry, citizen(0), "jobnet.cv").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_a_private_ca() {
    let material = sandbox::tls::generate().unwrap();
    let (running, registry) = start(SandboxConfig { tls: Some(material), ..SandboxConfig::default() }).await;
    assert!(running.url(Source::Mediconnect).starts_with("https://localhost:"));
    assert_eq!(fetch(&registry, citizen(0), "health.lae265").await.unwrap().len(), 1);
    assert_eq!(fetch(&registry, citizen(0), "jobnet.cv").await.unwrap().len(), 1);
    assert_eq!(fetch(&registry, citizen(1), "social.case").await.unwrap().len(), 3);
    running.set_faults(Source::Jobcenter, SourceFaults::fault(Fault::ConnectionReset));
    assert_eq!(fetch(&registry, citizen(0), "jobcenter.case").await.unwrap_err().status(), "unavailable");
    running.set_faults(Source::Jobcenter, SourceFaults::fault(Fault::TruncatedBody));
    assert_eq!(fetch(&registry, citizen(0), "jobcenter.case").await.unwrap_err().status(), "invalid_response");

    // Without the sandbox's CA the certificate is not trusted.
    let mut untrusting = tuned(running.connectors_config());
    for s in untrusting.sources.values_mut() {
        s.ca_pem = None;
    }
    let registry = Registry::from_config(&untrusting).unwrap();
    let err = fetch(&registry, citizen(0), "jobnet.cv").await.unwrap_err();
    assert_eq!(err.status(), "unavailable", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobcenter_answers_a_repeated_request_id_with_412() {
    let (running, _registry) = start(SandboxConfig::default()).await;
    let client = reqwest::Client::new();
    let url = format!("{}{}", running.url(Source::Jobcenter), connectors::jobcenter::CASE_PATH);
    let call = || {
        client
            .get(&url)
            .header(connectors::http::CPR_HEADER, citizen(0).expose())
            .header(connectors::http::REQUEST_ID_HEADER, "same-id")
            .timeout(BOUND)
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);
    assert_eq!(call().await.unwrap().status(), 412);
    let no_cpr = client.get(&url).header(connectors::http::REQUEST_ID_HEADER, "other").timeout(BOUND).send();
    assert_eq!(no_cpr.await.unwrap().status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_from_configuration() {
    let (running, _) = start(SandboxConfig::default()).await;
    let base = running.connectors_config();

    let mut unknown = base.clone();
    unknown.sources.get_mut("social").unwrap().kind = Some("carrier-pigeon".into());
    assert!(matches!(Registry::from_config(&unknown), Err(connectors::ConfigError::UnknownKind { .. })));

    let mut not_served = base.clone();
    not_served.sources.get_mut("jobnet_cv").unwrap().categories = vec![cat("social.case")];
    assert!(matches!(Registry::from_config(&not_served), Err(connectors::ConfigError::CategoryNotServed { .. })));

    let mut twice = base.clone();
    let mut second = twice.sources["social"].clone();
    second.kind = Some("social".into());
    twice.sources.insert("social2".into(), second);
    assert!(matches!(Registry::from_config(&twice), Err(connectors::ConfigError::DuplicateCategory { .. })));

    // Restricting a connector to one of its categories.
    let mut only_case = base.clone();
    only_case.sources.get_mut("jobcenter").unwrap().categories = vec![cat("jobcenter.case")];
    let registry = Registry::from_config(&only_case).unwrap();
    assert!(registry.for_category(&cat("jobcenter.benefits")).is_none());
    assert!(registry.for_category(&cat("jobcenter.case")).is_some());

    // A new source system: implement the trait, register the kind, name it in configuration.
    struct Fixed(Vec<Category>);
    #[async_trait::async_trait]
    impl Connector for Fixed {
        fn id(&self) -> &str {
            "fixed"
        }
        fn categories(&self) -> &[Category] {
            &self.0
        }
        async fn fetch(&self, _req: &FetchRequest) -> Result<Vec<Document>, FetchError> {
            Ok(vec![])
        }
        async fn health(&self) -> Result<(), FetchError> {
            Ok(())
        }
    }
    let mut kinds = Kinds::builtin();
    kinds.register("fixed", |_id, _cfg, _http| Ok(Arc::new(Fixed(vec![cat("housing.lease")])) as Arc<dyn Connector>));
    let mut with_new = base.clone();
    with_new.sources.insert("fixed".into(), connectors::SourceConfig::new("http://127.0.0.1:9"));
    let registry = Registry::from_config_with(&with_new, &kinds).unwrap();
    assert_eq!(registry.for_category(&cat("housing.lease")).unwrap().id(), "fixed");
    // The four document sources, the plan service and the new kind.
    assert_eq!(registry.all().count(), 6);
}

/// The department summaries and the coordinated plan: read, written against the version
/// read (a stale version is a conflict naming the current one), a bad field named, and an
/// answer about another citizen refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_and_the_plan_answer_and_refuse_what_they_must() {
    use connectors::plan::Plan;
    use connectors::{WriteError, WriteRequest};
    let (running, registry) = start(SandboxConfig::default()).await;
    let seven = citizen(7);
    for c in ["jobcenter.summary", "social.summary", "health.summary"] {
        let docs = fetch(&registry, seven, c).await.unwrap();
        assert_eq!(docs.len(), 1, "{c}");
        assert!(docs[0].content.get("civilRegistrationIdentifier").is_none(), "{c}: the number is left out");
    }
    assert!(fetch(&registry, citizen(2), "social.summary").await.unwrap().is_empty(), "no data: no summary");
    let plan: Plan = serde_json::from_value(fetch(&registry, seven, "plan").await.unwrap()[0].content.clone()).unwrap();
    assert_eq!(plan.version, 1);
    assert_eq!(plan.owner_of("e-2"), Some("kk.social"));

    let connector = registry.for_category(&cat("plan")).unwrap();
    let write = |version: u64, change: serde_json::Value| WriteRequest {
        citizen: seven,
        category: cat("plan"),
        expected_version: version,
        change,
        request_id: "test-write".into(),
        clock: Arc::new(consent::clock::SystemClock),
    };
    let statement = serde_json::json!({"kind": "statement", "date": "2025-03-01", "text": "Jeg vil gerne i praktik."});
    let written = connector.write(&write(1, statement.clone())).await.unwrap();
    assert_eq!(written.version, 2);
    assert_eq!(connector.write(&write(1, statement.clone())).await.unwrap_err(), WriteError::Conflict { current: 2 });
    let empty = serde_json::json!({"kind": "statement", "date": "2025-03-01", "text": " "});
    assert_eq!(connector.write(&write(2, empty)).await.unwrap_err(), WriteError::Refused("field change.text".into()));
    // A source that answers about someone else: refused, on reading and on writing.
    running.set_faults(Source::Plan, SourceFaults::fault(Fault::WrongPatient));
    assert_eq!(fetch(&registry, seven, "plan").await.unwrap_err().status(), "invalid_response");
    assert!(matches!(
        connector.write(&write(2, statement)).await,
        Err(WriteError::Source(FetchError::InvalidResponse(_)))
    ));
    running.set_faults(Source::Jobcenter, SourceFaults::fault(Fault::WrongPatient));
    assert_eq!(fetch(&registry, seven, "jobcenter.summary").await.unwrap_err().status(), "invalid_response");
    // No CPR number in any URL asked.
    assert!(running.visits().iter().all(|v| !v.url_holds_cpr));
}

/// The person register (not a connector): where a citizen lives, and every fault gives its
/// outcome within the timeout, with the cause never naming the citizen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_person_register_answers_and_every_fault_fails_in_time() {
    use connectors::person::PersonRegister;
    let (running, _) = start(SandboxConfig::default()).await;
    let mut cfg = running.person_register_config();
    cfg.timeout_ms = TIMEOUT_MS;
    cfg.backoff_ms = 20;
    cfg.max_retries = MAX_RETRIES;
    cfg.max_response_bytes = 256 * 1024;
    let register = PersonRegister::from_config(&cfg).unwrap();
    let lookup = |who: Cpr| {
        let register = register.clone();
        async move { tokio::time::timeout(BOUND, register.lookup(&who, "test-req")).await.expect("within the bound") }
    };
    let p = lookup(citizen(3)).await.unwrap().unwrap();
    assert_eq!(p.municipality.map(|m| m.get()), Some(101));
    assert!(p.address_protection, "citizen 3 is protected");
    let p = lookup(citizen(4)).await.unwrap().unwrap();
    assert_eq!((p.municipality.map(|m| m.get()), p.address_protection), (Some(751), false));
    assert_eq!(lookup(Cpr::parse("0101709999").unwrap()).await.unwrap(), None, "unknown to the register");
    running.move_citizen(citizen(4), "0101");
    assert_eq!(lookup(citizen(4)).await.unwrap().unwrap().municipality.map(|m| m.get()), Some(101), "moved");

    let faults: [(Fault, &str); 7] = [
        (Fault::Delay { ms: SLOW_SOURCE_MS }, "timeout"),
        (Fault::Http500, "unavailable"),
        (Fault::ConnectionReset, "unavailable"),
        (Fault::MalformedBody, "invalid_response"),
        (Fault::TruncatedBody, "invalid_response"),
        (Fault::OversizedBody, "invalid_response"),
        (Fault::WrongPatient, "invalid_response"),
    ];
    let who = citizen(0);
    for (fault, status) in faults {
        running.set_faults(Source::Cpr, SourceFaults::fault(fault));
        let started = Instant::now();
        let err = lookup(who).await.expect_err(&format!("{fault:?} must fail"));
        assert_eq!(err.status(), status, "{fault:?}: {err}");
        assert!(!err.cause().contains(who.expose()), "a cause never holds the CPR number");
        assert!(started.elapsed() < Duration::from_millis(SLOW_SOURCE_MS / 2), "{fault:?}: waited for the source");
    }
    running.set_faults(Source::Cpr, SourceFaults::fault(Fault::Delay { ms: SLOW_SOURCE_MS }));
    assert_eq!(tokio::time::timeout(BOUND, register.health()).await.unwrap().unwrap_err().status(), "timeout");
    running.clear_faults();
    assert!(tokio::time::timeout(BOUND, register.health()).await.unwrap().is_ok());
    assert!(lookup(who).await.unwrap().is_some(), "recovers");
}

/// The Digital Post client against the sandbox's mailbox: a message is delivered once, a
/// retry of it is a duplicate, another message under its id is refused, a subject with a
/// CPR number is refused, and a mailbox that is down is an error naming no one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mailbox_delivers_once_and_refuses_what_it_must() {
    use connectors::digital_post::{Delivered, DigitalPost, MailboxMessage};
    let (running, _) = start(SandboxConfig::default()).await;
    let mut cfg = running.mailbox_config();
    cfg.timeout_ms = 2_000;
    cfg.max_retries = 0;
    let post = DigitalPost::from_config(&cfg).unwrap();
    let who = citizen(0);
    let m = MailboxMessage {
        message_id: uuid::Uuid::now_v7(),
        recipient: who.expose().to_string(),
        sender: "sammen".into(),
        subject: "Du er blevet bedt om et samtykke".into(),
        body: "Jobcentret beder om dit samtykke.".into(),
    };
    assert_eq!(post.deliver(&m).await.unwrap(), Delivered::New);
    assert_eq!(post.deliver(&m).await.unwrap(), Delivered::Duplicate);
    assert_eq!(running.mailbox().len(), 1);
    assert_eq!(running.mailbox()[0].posts, 2);
    let other = MailboxMessage { body: "Noget andet.".into(), ..m.clone() };
    assert!(matches!(post.deliver(&other).await, Err(FetchError::InvalidResponse(_))));
    let leaky =
        MailboxMessage { message_id: uuid::Uuid::now_v7(), subject: format!("Sag {}", who.expose()), ..m.clone() };
    let e = post.deliver(&leaky).await.unwrap_err();
    assert!(!e.to_string().contains(who.expose()), "{e}");
    assert_eq!(running.mailbox().len(), 1);
    running.set_faults(Source::Mailbox, SourceFaults::fault(Fault::ConnectionReset));
    let fresh = MailboxMessage { message_id: uuid::Uuid::now_v7(), ..m.clone() };
    let e = post.deliver(&fresh).await.unwrap_err();
    assert!(matches!(e, FetchError::Unavailable(_)), "{e}");
    assert!(!e.to_string().contains(who.expose()), "{e}");
    running.clear_faults();
    assert_eq!(post.deliver(&fresh).await.unwrap(), Delivered::New);
    post.health().await.unwrap();
}
