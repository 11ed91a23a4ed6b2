//! Sending through the hub (`connectors::health_hub`) against the sandbox hub over TLS:
//! the citizen's own GP, a letter delivered once however often it is posted, refusals with
//! their reason, an LÆ 261 request answered by the synthetic GP with an LÆ 265 that the
//! reading connector then finds and links to the request, receipts delivered later through
//! the hub's inbox (once, twice, after a stray one), and attachments from the hub's
//! document store.

use std::time::Duration;

use chrono::NaiveDate;
use connectors::health_hub::{Delivered, GpRecord, HealthHub, Waiting};
use connectors::medcom::outgoing::{self, Addressee, MedcomId, MessageText, Routing, Subject};
use connectors::medcom::{Patient, Receipt, Stamp};
use connectors::{FetchError, FetchRequest, Registry};
use consent::Category;
use consent::Cpr;
use sandbox::hub::{HubMode, HubSettings};
use sandbox::{RunningSandbox, Sandbox, SandboxConfig};

/// Every wait in these tests is bounded by this.
const BOUND: Duration = Duration::from_secs(20);

async fn start() -> (RunningSandbox, HealthHub) {
    let tls = sandbox::tls::generate().expect("test certificates");
    let running = tokio::time::timeout(BOUND, Sandbox::start(SandboxConfig { tls: Some(tls), ..Default::default() }))
        .await
        .expect("sandbox starts in time")
        .expect("sandbox starts");
    let cfg = running.connectors_config();
    let source = cfg.sources.get("mediconnect").expect("the hub").clone();
    assert!(source.base_url.starts_with("https://"), "{}", source.base_url);
    (running, HealthHub::new("mediconnect", &source).expect("valid configuration"))
}

fn citizen(i: usize) -> Cpr {
    sandbox::citizens()[i].cpr
}

fn patient(cpr: Cpr) -> Patient {
    Patient {
        cpr,
        surname: None,
        given_name: None,
        street_name: None,
        district_name: None,
        post_code: None,
        episode_of_care_status: None,
    }
}

fn us() -> Addressee {
    Addressee::new("5790000121441", "Københavns Kommune, Jobcenter").unwrap()
}

fn letter(to: &Addressee, who: Cpr, env: &MedcomId) -> Vec<u8> {
    letter_with(to, who, env, None)
}

fn letter_with(
    to: &Addressee,
    who: Cpr,
    env: &MedcomId,
    attachment: Option<connectors::medcom::BinReference>,
) -> Vec<u8> {
    let letter_id = MedcomId::random();
    let from = us();
    let r = Routing {
        envelope_id: env,
        letter_id: &letter_id,
        sent: Stamp { date: "2026-12-01".parse().unwrap(), time: "09:00".into() },
        sender: &from,
        receiver: to,
        patient: patient(who),
    };
    outgoing::xdis91_letter(
        r,
        &Subject::parse("Rehabiliteringsteamets indstilling").unwrap(),
        &MessageText::parse("Teamet indstiller til ressourceforløb.").unwrap(),
        attachment,
    )
    .to_xml()
}

async fn deliver(hub: &HealthHub, payload: &[u8]) -> Result<Delivered, FetchError> {
    tokio::time::timeout(BOUND, hub.deliver(payload, "test")).await.expect("delivery ends within the bound")
}

#[tokio::test]
async fn a_letter_is_delivered_once_however_often_it_is_posted() {
    let (running, hub) = start().await;
    let who = citizen(0);
    let gp = hub.own_gp(&who, "test").await.expect("lookup").expect("citizen 0 has a GP");
    let to = gp.addressee().expect("a valid GP record");
    let env = MedcomId::random();
    let payload = letter(&to, who, &env);
    let first = deliver(&hub, &payload).await.expect("delivered");
    match &first {
        Delivered::Receipt(Receipt::Positive(r)) => {
            assert_eq!(r.original.envelope_identifier, env.as_str());
            assert_eq!(r.sender_ean, gp.ean, "the GP acknowledges");
        }
        other => panic!("{other:?}"),
    }
    let again = deliver(&hub, &payload).await.expect("delivered again");
    assert_eq!(again, first, "the same receipt again");
    let d = running.hub_deliveries()[env.as_str()];
    assert_eq!((d.posts, d.delivered), (2, 1));

    // No GP: none; another citizen's GP as receiver: refused with the reason.
    assert_eq!(hub.own_gp(&citizen(9), "test").await.expect("lookup"), None);
    let other = hub.own_gp(&citizen(1), "test").await.unwrap().unwrap().addressee().unwrap();
    let wrong = MedcomId::random();
    match deliver(&hub, &letter(&other, who, &wrong)).await.expect("answered") {
        Delivered::Receipt(Receipt::Negative(r)) => assert!(r.error_text.contains("egen læge"), "{}", r.error_text),
        other => panic!("{other:?}"),
    }

    // The GP's system refuses: a negative receipt with its reason.
    running.set_hub(HubSettings { mode: HubMode::Negative, ..Default::default() });
    match deliver(&hub, &letter(&to, who, &MedcomId::random())).await.expect("answered") {
        Delivered::Receipt(Receipt::Negative(r)) => {
            assert_eq!(r.sender_ean, gp.ean);
            assert!(r.error_text.contains("afviste"), "{}", r.error_text);
        }
        other => panic!("{other:?}"),
    }
    // Not a MedCom message: refused by the hub itself.
    assert_eq!(deliver(&hub, b"<x/>").await.expect("answered"), Delivered::Refused { status: 400 });
    // Down: an error to retry later.
    running.set_faults(sandbox::Source::Mediconnect, sandbox::SourceFaults::fault(sandbox::Fault::Http500));
    assert!(matches!(deliver(&hub, &payload).await, Err(FetchError::Unavailable(_))));
}

#[tokio::test]
async fn the_gp_answers_a_statement_request_with_an_lae265_the_reader_finds() {
    let (running, hub) = start().await;
    running.set_hub(HubSettings { gp_answer_delay_ms: 200, ..Default::default() });
    let who = citizen(2);
    let registry = Registry::from_config(&running.connectors_config()).unwrap();
    let lae265 = Category::parse("health.lae265").unwrap();
    let reader = registry.for_category(&lae265).unwrap();
    let fetch = || FetchRequest {
        citizen: who,
        category: lae265.clone(),
        data_period: None,
        request_id: "test".into(),
        clock: std::sync::Arc::new(consent::clock::SystemClock),
    };
    let before = reader.fetch(&fetch()).await.expect("read").len();

    let to = hub.own_gp(&who, "test").await.unwrap().unwrap().addressee().unwrap();
    let (env, letter_id, from) = (MedcomId::random(), MedcomId::random(), us());
    let request = outgoing::lae261_request(
        Routing {
            envelope_id: &env,
            letter_id: &letter_id,
            sent: Stamp { date: "2026-12-01".parse().unwrap(), time: "09:00".into() },
            sender: &from,
            receiver: &to,
            patient: patient(who),
        },
        &MessageText::parse("Hvilke skånehensyn er der?").unwrap(),
        NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
    );
    match deliver(&hub, &request.to_xml()).await.expect("delivered") {
        Delivered::Receipt(Receipt::Positive(r)) => assert_eq!(r.original.envelope_identifier, env.as_str()),
        other => panic!("{other:?}"),
    }
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let docs = reader.fetch(&fetch()).await.expect("read");
        if docs.len() == before + 1 {
            let answer = docs.iter().find(|d| d.id == format!("A{env}")).expect("the answer by its identifier");
            let text = serde_json::to_string(&answer.content).unwrap();
            assert!(text.contains("Hvilke skånehensyn er der?"), "the answer quotes the question: {text}");
            // It names the request it answers, and no other.
            assert!(connectors::mediconnect::answers_request(answer, env.as_str()));
            assert!(!connectors::mediconnect::answers_request(answer, "ANDEN0000000"));
            assert!(docs.iter().filter(|d| connectors::mediconnect::answers_request(d, env.as_str())).count() == 1);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no LÆ 265 within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn inbox(hub: &HealthHub) -> Vec<String> {
    tokio::time::timeout(BOUND, hub.inbox("test")).await.expect("in time").expect("the inbox")
}

async fn waiting(hub: &HealthHub, id: &str) -> Waiting {
    tokio::time::timeout(BOUND, hub.waiting(id, "test")).await.expect("in time").expect("a waiting receipt")
}

#[tokio::test]
async fn receipts_wait_in_the_inbox_until_they_are_marked_read() {
    let (running, hub) = start().await;
    let who = citizen(0);
    let to = hub.own_gp(&who, "test").await.unwrap().unwrap().addressee().unwrap();
    assert!(inbox(&hub).await.is_empty());

    // Twice: the message is taken (202), its receipt waits in the inbox two times.
    running.set_hub(HubSettings { mode: HubMode::DuplicateReceipt, ..Default::default() });
    let env = MedcomId::random();
    assert_eq!(deliver(&hub, &letter(&to, who, &env)).await.expect("taken"), Delivered::Accepted);
    let ids = inbox(&hub).await;
    assert_eq!(ids.len(), 2, "{ids:?}");
    for id in &ids {
        match waiting(&hub, id).await {
            Waiting::Receipt(Receipt::Positive(r)) => assert_eq!(r.original.envelope_identifier, env.as_str()),
            other => panic!("{other:?}"),
        }
    }
    // Marked read, it is gone; marking it again is fine.
    hub.mark_read(&ids[0], "test").await.expect("marked read");
    assert_eq!(inbox(&hub).await, vec![ids[1].clone()]);
    assert_eq!(waiting(&hub, &ids[0]).await, Waiting::Gone);
    hub.mark_read(&ids[0], "test").await.expect("marked read again");
    hub.mark_read(&ids[1], "test").await.expect("marked read");

    // A stray receipt first, then the message's own.
    running.set_hub(HubSettings { mode: HubMode::StrayReceipt, ..Default::default() });
    let env = MedcomId::random();
    assert_eq!(deliver(&hub, &letter(&to, who, &env)).await.expect("taken"), Delivered::Accepted);
    let ids = inbox(&hub).await;
    assert_eq!(ids.len(), 2, "{ids:?}");
    let named: Vec<String> = {
        let mut v = Vec::new();
        for id in &ids {
            match waiting(&hub, id).await {
                Waiting::Receipt(r) => v.push(r.original().envelope_identifier.clone()),
                other => panic!("{other:?}"),
            }
        }
        v
    };
    assert_eq!(named, vec!["UKENDT0000000".to_string(), env.to_string()]);
    // Synchronous again: the receipt is the answer, nothing waits.
    running.set_hub(HubSettings::default());
    for id in &ids {
        hub.mark_read(id, "test").await.expect("marked read");
    }
    assert!(matches!(deliver(&hub, &letter(&to, who, &MedcomId::random())).await, Ok(Delivered::Receipt(_))));
    assert!(inbox(&hub).await.is_empty());
}

#[tokio::test]
async fn a_letter_attaches_a_document_the_hub_holds_about_the_citizen() {
    let (_running, hub) = start().await;
    let (who, other) = (citizen(0), citizen(1));
    let to = hub.own_gp(&who, "test").await.unwrap().unwrap().addressee().unwrap();
    let own = sandbox::hub::documents::attachments_of(&who)[0].id.clone();
    let theirs = sandbox::hub::documents::attachments_of(&other)[0].id.clone();
    let found = hub.attachment(&who, &own, "test").await.expect("asked").expect("the citizen's document");
    assert_eq!(found.id, own);
    let reference = found.reference();
    assert_eq!(reference.extension_code.as_deref(), Some("pdf"));
    // Another citizen's document, or an id that is no plain token: none.
    assert_eq!(hub.attachment(&who, &theirs, "test").await.expect("asked"), None);
    assert_eq!(hub.attachment(&who, "../admin", "test").await.expect("asked"), None);

    // With the reference the letter is acknowledged; the XDIS91 carries it as Reference/BIN.
    let env = MedcomId::random();
    let payload = letter_with(&to, who, &env, Some(reference.clone()));
    match connectors::medcom::parse_message(&payload, connectors::xml::Limits::default()).unwrap() {
        connectors::medcom::Message::Xdis91(l) => assert_eq!(l.references, vec![reference]),
        other => panic!("{other:?}"),
    }
    assert!(matches!(deliver(&hub, &payload).await.expect("answered"), Delivered::Receipt(Receipt::Positive(_))));
    // A reference the hub does not hold about the patient: refused with the reason.
    let mut wrong = found.reference();
    wrong.object_identifier = theirs;
    match deliver(&hub, &letter_with(&to, who, &MedcomId::random(), Some(wrong))).await.expect("answered") {
        Delivered::Receipt(Receipt::Negative(r)) => assert!(r.error_text.contains("bilag"), "{}", r.error_text),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_gp_record_the_hub_cannot_address_is_an_error() {
    let bad = GpRecord { ean: "12345".into(), sor: None, name: "Ukendt".into() };
    assert!(bad.addressee().is_err(), "an invalid location number");
    let ean = sandbox::hub::own_gp(&citizen(0)).expect("a GP").ean;
    assert!(GpRecord { ean: ean.clone(), sor: None, name: "Kendt".into() }.addressee().is_ok());
    let bad_sor = GpRecord { ean, sor: Some("x".into()), name: "Ukendt".into() };
    assert!(bad_sor.addressee().is_err(), "an invalid SOR code");
}
