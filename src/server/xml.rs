//! Rendering of the server's XML answers: a tiny writer with proper escaping (and S3's
//! namespace), and COS's and S3's error documents.
//!
//! Pure: builds strings only. It deliberately does not share `store::xml` (the client's
//! parser), so that a bug in one side cannot hide behind the same bug in the other.

use std::fmt::Write as _;

/// Escapes text for an XML element body or attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// An XML document under construction.
pub struct Xml {
    buf: String,
    stack: Vec<&'static str>,
}

impl Xml {
    /// Starts a document with the XML declaration and the root element.
    pub fn new(root: &'static str) -> Self {
        let mut x = Xml {
            buf: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
            stack: Vec::new(),
        };
        x.open(root);
        x
    }

    /// Starts a document whose root carries `xmlns` when `namespace` is given (S3's
    /// documents; COS's have none).
    pub fn with_namespace(root: &'static str, namespace: Option<&str>) -> Self {
        Self::start(root, namespace, true)
    }

    /// `with_namespace` without the declaration (Complete's body after streamed spaces).
    pub fn bare_with_namespace(root: &'static str, namespace: Option<&str>) -> Self {
        Self::start(root, namespace, false)
    }

    fn start(root: &'static str, namespace: Option<&str>, declaration: bool) -> Self {
        let mut x = Xml {
            buf: String::new(),
            stack: vec![root],
        };
        if declaration {
            x.buf
                .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        }
        match namespace {
            Some(ns) => {
                let _ = write!(x.buf, "<{root} xmlns=\"{}\">", escape(ns));
            }
            None => {
                let _ = write!(x.buf, "<{root}>");
            }
        }
        x
    }

    /// Starts a fragment without the declaration (Complete's body follows streamed spaces).
    pub fn bare(root: &'static str) -> Self {
        let mut x = Xml {
            buf: String::new(),
            stack: Vec::new(),
        };
        x.open(root);
        x
    }

    pub fn open(&mut self, name: &'static str) -> &mut Self {
        let _ = write!(self.buf, "<{name}>");
        self.stack.push(name);
        self
    }

    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.stack.pop() {
            let _ = write!(self.buf, "</{name}>");
        }
        self
    }

    /// `<name>escaped text</name>`
    pub fn elem(&mut self, name: &str, text: impl std::fmt::Display) -> &mut Self {
        let _ = write!(self.buf, "<{name}>{}</{name}>", escape(&text.to_string()));
        self
    }

    pub fn finish(mut self) -> String {
        while !self.stack.is_empty() {
            self.close();
        }
        self.buf
    }
}

/// COS's error document (docs/architecture.md §5): Code, Message, any extra elements (StringToSign,
/// FormatString), Resource, RequestId, TraceId.
pub fn error_document(
    code: &str,
    message: &str,
    extra: &[(&'static str, String)],
    resource: &str,
    request_id: &str,
    declaration: bool,
) -> String {
    let mut x = if declaration {
        Xml::new("Error")
    } else {
        Xml::bare("Error")
    };
    x.elem("Code", code).elem("Message", message);
    for (name, value) in extra {
        x.elem(name, value);
    }
    x.elem("Resource", resource)
        .elem("RequestId", request_id)
        .elem("TraceId", request_id);
    x.finish()
}

/// S3's error document: Code, Message, any extra elements (StringToSign, CanonicalRequest,
/// …), Resource, RequestId and HostId. No namespace, as S3 sends it.
pub fn s3_error_document(
    code: &str,
    message: &str,
    extra: &[(&'static str, String)],
    resource: &str,
    request_id: &str,
    declaration: bool,
) -> String {
    let mut x = if declaration {
        Xml::new("Error")
    } else {
        Xml::bare("Error")
    };
    x.elem("Code", code).elem("Message", message);
    for (name, value) in extra {
        x.elem(name, value);
    }
    x.elem("Resource", resource)
        .elem("RequestId", request_id)
        .elem("HostId", request_id);
    x.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(escape("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;&#x1;");
    }

    #[test]
    fn an_s3_document_names_its_namespace_and_an_s3_error_its_host_id() {
        let mut x = Xml::with_namespace(
            "ListBucketResult",
            Some("http://s3.amazonaws.com/doc/2006-03-01/"),
        );
        x.elem("Name", "b");
        assert!(x.finish().ends_with("<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name></ListBucketResult>"));
        let d = s3_error_document("NoSuchKey", "gone", &[], "/b/k", "rid", true);
        assert!(d.contains("<Error><Code>NoSuchKey</Code><Message>gone</Message><Resource>/b/k</Resource><RequestId>rid</RequestId><HostId>rid</HostId></Error>"), "{d}");
    }

    #[test]
    fn error_document_has_every_field() {
        let d = error_document("NoSuchKey", "gone", &[], "/b/k<", "rid", true);
        assert!(d.starts_with("<?xml"));
        assert!(d.contains("<Code>NoSuchKey</Code><Message>gone</Message><Resource>/b/k&lt;</Resource><RequestId>rid</RequestId><TraceId>rid</TraceId></Error>"));
    }
}
