//! The broker's HTML: the login form listing the synthetic citizens by name (never by CPR
//! number), and plain pages for errors and logout.

use crate::citizens;

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn document(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="da">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 36rem; margin: 0 auto; padding: 1rem; line-height: 1.5; color: #1a1a1a; }}
header {{ background: #0a3d62; color: #fff; padding: .5rem 1rem; margin: -1rem -1rem 1rem; }}
label, select, button {{ font-size: 1rem; }}
select {{ width: 100%; padding: .4rem; }}
fieldset {{ margin: 1rem 0; }}
button {{ background: #0a3d62; color: #fff; border: 0; padding: .6rem 1.4rem; border-radius: .3rem; }}
</style>
</head>
<body>
<header><p>Sandkasse-MitID (kun til test)</p></header>
<main>
{body}
</main>
</body>
</html>
"#,
        title = esc(title),
    )
}

/// The login form for pending authorisation request `auth`.
pub(crate) fn login(auth: &str, client: &str) -> String {
    let mut options = String::new();
    for (i, c) in citizens().iter().enumerate() {
        options.push_str(&format!("<option value=\"{i}\">{}</option>\n", esc(&c.name())));
    }
    let body = format!(
        r#"<h1>Log ind med MitID</h1>
<p>Du logger ind hos <strong>{client}</strong>. Dette er en sandkasse: vælg en af de syntetiske borgere.</p>
<form method="post" action="/authorize">
<input type="hidden" name="auth" value="{auth}">
<p><label for="citizen">Borger</label><br>
<select id="citizen" name="citizen">
{options}</select></p>
<fieldset>
<legend>Sikringsniveau</legend>
<p><input type="radio" id="loa-low" name="loa" value="low"> <label for="loa-low">Lav</label></p>
<p><input type="radio" id="loa-substantial" name="loa" value="substantial" checked> <label for="loa-substantial">Betydelig</label></p>
<p><input type="radio" id="loa-high" name="loa" value="high"> <label for="loa-high">Høj</label></p>
</fieldset>
<p><button type="submit">Log ind</button></p>
</form>"#,
        client = esc(client),
        auth = esc(auth),
    );
    document("Log ind med MitID (sandkasse)", &body)
}

/// A page saying what went wrong (never echoing the request's parameters unescaped).
pub(crate) fn error(message: &str) -> String {
    document("Fejl ved login", &format!("<h1>Login mislykkedes</h1>\n<p>{}</p>", esc(message)))
}

pub(crate) fn logged_out() -> String {
    document("Du er logget ud", "<h1>Du er logget ud</h1>\n<p>Du er logget ud af MitID.</p>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_names_citizens_never_their_cpr() {
        let html = login("abc", "sammen-portal");
        assert!(html.contains("<option value=\"0\">"));
        assert!(html.contains("<option value=\"59\">"));
        for c in citizens() {
            assert!(!html.contains(c.cpr.expose()), "a CPR number in the login page");
        }
        assert!(html.contains("value=\"substantial\" checked"));
        assert!(html.contains(">Log ind</button>"));
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
