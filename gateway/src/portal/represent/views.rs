//! The pages of acting for someone else (`templates/portal/represent_*.html`).

use askama::Template;

use crate::portal::pages::ConsentView;

/// One person the holder may act for, as the list shows them.
pub struct Person {
    /// The power of attorney's reference (the opaque id in the URL).
    pub reference: String,
    pub name: String,
    /// What the holder may do, in Danish.
    pub privileges: String,
    pub valid: bool,
    pub until: String,
    /// Why the holder cannot act for the person now.
    pub not_valid: String,
}

#[derive(Template)]
#[template(path = "portal/represent_list.html")]
pub struct ListPage {
    pub title: String,
    pub nav: Option<String>,
    pub people: Vec<Person>,
}

#[derive(Template)]
#[template(path = "portal/represent_overview.html")]
pub struct OverviewForPage {
    pub title: String,
    pub nav: Option<String>,
    pub name: String,
    pub reference: String,
    pub can_act: bool,
    pub pending: Vec<ConsentView>,
    pub active: Vec<ConsentView>,
    pub earlier: Vec<ConsentView>,
}

#[derive(Template)]
#[template(path = "portal/represent_request.html")]
pub struct RequestForPage {
    pub title: String,
    pub nav: Option<String>,
    pub csrf: String,
    pub name: String,
    pub reference: String,
    pub can_act: bool,
    pub c: ConsentView,
}

#[derive(Template)]
#[template(path = "portal/represent_revoke.html")]
pub struct RevokeForPage {
    pub title: String,
    pub nav: Option<String>,
    pub csrf: String,
    pub name: String,
    pub reference: String,
    pub c: ConsentView,
}

#[derive(Template)]
#[template(path = "portal/represent_grant.html")]
pub struct GrantForPage {
    pub title: String,
    pub nav: Option<String>,
    pub csrf: String,
    pub name: String,
    pub reference: String,
    pub error: Option<String>,
    pub units: Vec<(String, String)>,
    pub purposes: Vec<(String, String)>,
    pub categories: Vec<(String, String)>,
    pub cap: u32,
}
