//! Hardened XML reading: the one way this crate turns bytes into an XML tree.
//!
//! - No DTD: a document with a `<!DOCTYPE ...>` is rejected, so no entity is ever
//!   declared, let alone expanded; only the five predefined entities and character
//!   references are resolved; any other entity reference is an error.
//! - Bounded: input size, element depth and number of nodes.
//! - Encodings: UTF-8 (the default) and single-byte encodings named in the XML
//!   declaration (iso-8859-1 in MedCom). A document that declares iso-8859-1 but whose
//!   bytes are valid UTF-8 is read as UTF-8: MedCom's own samples do this. UTF-16, other
//!   multi-byte encodings, unknown labels and invalid UTF-8 are rejected.

use std::borrow::Cow;

use quick_xml::events::Event;

/// Bounds for one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: 4 * 1024 * 1024, max_depth: 64, max_nodes: 200_000 }
    }
}

impl Limits {
    pub fn with_max_bytes(max_bytes: usize) -> Self {
        Limits { max_bytes, ..Limits::default() }
    }
}

/// Why a document was rejected. Never quotes the document's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("XML document of {size} bytes exceeds the maximum {max}")]
    TooLarge { size: usize, max: usize },
    #[error("XML nesting deeper than {0}")]
    TooDeep(usize),
    #[error("XML document has more than {0} nodes")]
    TooManyNodes(usize),
    #[error("XML document has a DOCTYPE; DTDs are not accepted")]
    Doctype,
    #[error("XML encoding rejected: {0}")]
    Encoding(String),
    #[error("XML entity reference {0:?} is not predefined; entities are not accepted")]
    Entity(String),
    #[error("malformed XML: {0}")]
    Syntax(String),
    #[error("XML document has no root element")]
    NoRoot,
    #[error("XML namespace prefix {0:?} is not bound")]
    UnboundPrefix(String),
}

/// An element: namespace URI, local name, attributes (qualified names as written) and
/// children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ns: Option<String>,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    /// The first child element with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// Child elements with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.name == name)
    }

    /// All child elements.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// Follows a path of local names.
    pub fn path(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |el, name| el.child(name))
    }

    /// The element's own text (direct text children), trimmed.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                s.push_str(t);
            }
        }
        s.trim().to_string()
    }

    /// The trimmed text of the child with this name, if there is one and it is not empty.
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(Element::text).filter(|t| !t.is_empty())
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Decodes and parses a document.
pub fn parse(bytes: &[u8], limits: Limits) -> Result<Element, XmlError> {
    let text = decode(bytes, limits)?;
    parse_str(&text, limits)
}

/// Turns the bytes into text according to the BOM and XML declaration (see module docs).
pub fn decode(bytes: &[u8], limits: Limits) -> Result<Cow<'_, str>, XmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlError::TooLarge { size: bytes.len(), max: limits.max_bytes });
    }
    if bytes.starts_with(&[0xFE, 0xFF])
        || bytes.starts_with(&[0xFF, 0xFE])
        || bytes.starts_with(&[0, b'<'])
        || bytes.starts_with(&[b'<', 0])
    {
        return Err(XmlError::Encoding("UTF-16 is not accepted".into()));
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return std::str::from_utf8(rest)
            .map(Cow::Borrowed)
            .map_err(|_| XmlError::Encoding("not valid UTF-8 after a UTF-8 byte order mark".into()));
    }
    let encoding = match declared_encoding(bytes)? {
        None => encoding_rs::UTF_8,
        Some(label) => encoding_rs::Encoding::for_label(label.as_bytes())
            .ok_or_else(|| XmlError::Encoding(format!("unknown encoding {label:?}")))?,
    };
    if encoding == encoding_rs::UTF_8 {
        return std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|_| XmlError::Encoding("not valid UTF-8".into()));
    }
    if !encoding.is_single_byte() {
        return Err(XmlError::Encoding(format!("{} is not accepted", encoding.name())));
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        // ASCII reads the same either way; non-ASCII valid UTF-8 is a mislabelled UTF-8
        // document (as MedCom's published samples are): a real iso-8859-1 text with
        // non-ASCII letters is practically never valid UTF-8.
        return Ok(Cow::Borrowed(s));
    }
    encoding
        .decode_without_bom_handling_and_without_replacement(bytes)
        .ok_or_else(|| XmlError::Encoding(format!("not valid {}", encoding.name())))
}

/// The `encoding` of the XML declaration, if there is a declaration with one.
fn declared_encoding(bytes: &[u8]) -> Result<Option<String>, XmlError> {
    if !bytes.starts_with(b"<?xml") {
        return Ok(None);
    }
    let head = &bytes[..bytes.len().min(256)];
    let end = head
        .windows(2)
        .position(|w| w == b"?>")
        .ok_or_else(|| XmlError::Syntax("unterminated XML declaration".into()))?;
    let decl =
        std::str::from_utf8(&head[..end]).map_err(|_| XmlError::Encoding("XML declaration is not ASCII".into()))?;
    let Some(pos) = decl.find("encoding") else { return Ok(None) };
    let rest = decl[pos + "encoding".len()..].trim_start();
    let rest = rest.strip_prefix('=').ok_or_else(|| XmlError::Syntax("encoding without '='".into()))?.trim_start();
    let quote = rest.chars().next().ok_or_else(|| XmlError::Syntax("empty encoding".into()))?;
    if quote != '"' && quote != '\'' {
        return Err(XmlError::Syntax("encoding value is not quoted".into()));
    }
    let value = &rest[1..];
    let close = value.find(quote).ok_or_else(|| XmlError::Syntax("unterminated encoding value".into()))?;
    Ok(Some(value[..close].to_string()))
}

/// Parses decoded text into a tree, within the limits.
pub fn parse_str(text: &str, limits: Limits) -> Result<Element, XmlError> {
    if text.len() > limits.max_bytes {
        return Err(XmlError::TooLarge { size: text.len(), max: limits.max_bytes });
    }
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let syntax = |e: &dyn std::fmt::Display| XmlError::Syntax(e.to_string());
    let mut stack: Vec<(Element, usize)> = Vec::new();
    let mut scopes: Vec<(String, String)> = Vec::new();
    let mut root: Option<Element> = None;
    let mut nodes = 0usize;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Syntax(format!("{e} (near byte {})", reader.error_position())))?;
        match event {
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(XmlError::Syntax("content after the root element".into()));
            }
            Event::Start(start) => {
                nodes += 1;
                if nodes > limits.max_nodes {
                    return Err(XmlError::TooManyNodes(limits.max_nodes));
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep(limits.max_depth));
                }
                let before = scopes.len();
                let el = open(&start, &mut scopes)?;
                stack.push((el, before));
            }
            Event::Empty(start) => {
                nodes += 1;
                if nodes > limits.max_nodes {
                    return Err(XmlError::TooManyNodes(limits.max_nodes));
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep(limits.max_depth));
                }
                let before = scopes.len();
                let el = open(&start, &mut scopes)?;
                scopes.truncate(before);
                close(el, &mut stack, &mut root);
            }
            Event::End(_) => {
                let (el, before) = stack.pop().ok_or_else(|| XmlError::Syntax("unexpected end tag".into()))?;
                scopes.truncate(before);
                close(el, &mut stack, &mut root);
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| syntax(&e))?;
                push_text(&mut stack, &s, &mut nodes, limits)?;
            }
            Event::CData(t) => {
                let s = t.decode().map_err(|e| syntax(&e))?;
                push_text(&mut stack, &s, &mut nodes, limits)?;
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| syntax(&e))? {
                    Some(c) => c,
                    None => {
                        let name = r.decode().map_err(|e| syntax(&e))?;
                        match name.as_ref() {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => return Err(XmlError::Entity(other.chars().take(32).collect())),
                        }
                    }
                };
                push_text(&mut stack, c.encode_utf8(&mut [0u8; 4]), &mut nodes, limits)?;
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Syntax("unclosed element at end of document".into()));
    }
    root.ok_or(XmlError::NoRoot)
}

fn open(start: &quick_xml::events::BytesStart<'_>, scopes: &mut Vec<(String, String)>) -> Result<Element, XmlError> {
    let qname = std::str::from_utf8(start.name().as_ref())
        .map_err(|_| XmlError::Syntax("element name is not UTF-8".into()))?
        .to_string();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmlError::Syntax(format!("attribute: {e}")))?;
        let key = std::str::from_utf8(attr.key.as_ref())
            .map_err(|_| XmlError::Syntax("attribute name is not UTF-8".into()))?
            .to_string();
        let value = attr.unescape_value().map_err(|e| match e {
            quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => {
                XmlError::Entity(name.chars().take(32).collect())
            }
            other => XmlError::Syntax(format!("attribute value: {other}")),
        })?;
        if key == "xmlns" {
            scopes.push((String::new(), value.to_string()));
        } else if let Some(prefix) = key.strip_prefix("xmlns:") {
            scopes.push((prefix.to_string(), value.to_string()));
        }
        attrs.push((key, value.into_owned()));
    }
    let (prefix, local) = match qname.split_once(':') {
        Some((p, l)) => (p, l.to_string()),
        None => ("", qname.clone()),
    };
    let ns = if prefix == "xml" {
        Some("http://www.w3.org/XML/1998/namespace".to_string())
    } else {
        match scopes.iter().rev().find(|(p, _)| p == prefix) {
            Some((_, uri)) if uri.is_empty() => None,
            Some((_, uri)) => Some(uri.clone()),
            None if prefix.is_empty() => None,
            None => return Err(XmlError::UnboundPrefix(prefix.chars().take(32).collect())),
        }
    };
    Ok(Element { ns, name: local, attrs, children: Vec::new() })
}

fn close(el: Element, stack: &mut [(Element, usize)], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some((parent, _)) => parent.children.push(Node::Element(el)),
        None => *root = Some(el),
    }
}

fn push_text(stack: &mut [(Element, usize)], s: &str, nodes: &mut usize, limits: Limits) -> Result<(), XmlError> {
    let Some((parent, _)) = stack.last_mut() else {
        if s.trim().is_empty() {
            return Ok(());
        }
        return Err(XmlError::Syntax("text outside the root element".into()));
    };
    if let Some(Node::Text(prev)) = parent.children.last_mut() {
        prev.push_str(s);
        return Ok(());
    }
    *nodes += 1;
    if *nodes > limits.max_nodes {
        return Err(XmlError::TooManyNodes(limits.max_nodes));
    }
    parent.children.push(Node::Text(s.to_string()));
    Ok(())
}

/// Escapes text for an element's content or a double-quoted attribute value.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['<', '>', '&', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Encodes an XML document (whose declaration says iso-8859-1) to iso-8859-1 bytes;
/// characters outside Latin-1 become character references. Only call this on markup
/// whose names are ASCII (character references are not allowed inside names).
pub fn to_latin1(xml: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(xml.len());
    for c in xml.chars() {
        let n = c as u32;
        if n <= 0xFF {
            out.push(n as u8);
        } else {
            out.extend_from_slice(format!("&#{n};").as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Element, XmlError> {
        parse(s.as_bytes(), Limits::default())
    }

    #[test]
    fn namespaces_text_and_entities() {
        let el = p(r#"<?xml version="1.0"?><a:Root xmlns:a="urn:a" xmlns="urn:d"><B x="1 &amp; 2">x &lt; y &#248; &quot;q&quot;</B><a:C/></a:Root>"#).unwrap();
        assert_eq!(el.ns.as_deref(), Some("urn:a"));
        assert_eq!(el.name, "Root");
        let b = el.child("B").unwrap();
        assert_eq!(b.ns.as_deref(), Some("urn:d"));
        assert_eq!(b.text(), "x < y ø \"q\"");
        assert_eq!(b.attr("x"), Some("1 & 2"));
        assert_eq!(el.child("C").unwrap().ns.as_deref(), Some("urn:a"));
    }

    #[test]
    fn rejects_doctype_and_entities() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        assert_eq!(p(laughs), Err(XmlError::Doctype));
        assert!(matches!(p("<a>&lol;</a>"), Err(XmlError::Entity(n)) if n == "lol"));
        assert!(matches!(p(r#"<a b="&x;"/>"#), Err(XmlError::Entity(_))));
        assert!(matches!(p(r#"<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>"#), Err(XmlError::Doctype)));
    }

    #[test]
    fn bounds_depth_size_and_structure() {
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(p(&deep), Err(XmlError::TooDeep(64)));
        let big = format!("<a>{}</a>", "x".repeat(100));
        assert!(matches!(parse(big.as_bytes(), Limits::with_max_bytes(50)), Err(XmlError::TooLarge { .. })));
        assert!(matches!(p("<a><b></a>"), Err(XmlError::Syntax(_))));
        assert!(matches!(p("<a/><b/>"), Err(XmlError::Syntax(_))));
        assert!(matches!(p("<a>"), Err(XmlError::Syntax(_))));
        assert_eq!(p(""), Err(XmlError::NoRoot));
        assert!(matches!(p("<p:a/>"), Err(XmlError::UnboundPrefix(_))));
    }

    #[test]
    fn encodings() {
        let latin1 = b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><a>R\xf8ntgen</a>";
        assert_eq!(parse(latin1, Limits::default()).unwrap().text(), "Røntgen");
        let mislabelled = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><a>Røntgen</a>";
        assert_eq!(p(mislabelled).unwrap().text(), "Røntgen");
        let bad_utf8 = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>R\xf8ntgen</a>";
        assert!(matches!(parse(bad_utf8, Limits::default()), Err(XmlError::Encoding(_))));
        let no_decl = b"<a>R\xf8ntgen</a>";
        assert!(matches!(parse(no_decl, Limits::default()), Err(XmlError::Encoding(_))));
        let unknown = b"<?xml version=\"1.0\" encoding=\"x-klingon\"?><a/>";
        assert!(matches!(parse(unknown, Limits::default()), Err(XmlError::Encoding(_))));
        let utf16 = b"\xff\xfe<\0a\0/\0>\0";
        assert!(matches!(parse(utf16, Limits::default()), Err(XmlError::Encoding(_))));
        let sjis = b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><a/>";
        assert!(matches!(parse(sjis, Limits::default()), Err(XmlError::Encoding(_))));
    }

    #[test]
    fn latin1_round_trip() {
        let bytes = to_latin1("<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><a>Sænkning € &amp;</a>");
        assert!(bytes.contains(&0xE6));
        assert_eq!(parse(&bytes, Limits::default()).unwrap().text(), "Sænkning € &");
    }
}
