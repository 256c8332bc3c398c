//! A link as a QR code, rendered on the server as inline SVG (no script,
//! no image request), for a wall screen's browser to scan or for the
//! administrator to photograph.

use qrcode::QrCode;
use qrcode::render::svg;

/// The link is too long for a QR code.
#[derive(Debug, thiserror::Error)]
#[error("the link cannot be shown as a QR code: {0}")]
pub struct QrError(#[from] qrcode::types::QrError);

/// The QR code of `text` as an `<svg>` element (no XML prolog), ready to
/// place in a page.
pub fn svg(text: &str) -> Result<String, QrError> {
    let code = QrCode::new(text.as_bytes())?;
    let image = code
        .render::<svg::Color>()
        .min_dimensions(240, 240)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // Only the element: the prolog is not allowed inside HTML.
    Ok(match image.find("<svg") {
        Some(start) => image[start..].to_owned(),
        None => image,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_becomes_an_inline_svg() {
        let svg = svg("http://127.0.0.1:8083/sign-in/kiosk/abc_DEF-123").expect("fits");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("<?xml"));
    }
}
