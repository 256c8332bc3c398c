//! Acknowledgements (`ACK`): MSA-1 `AA` (stored), `AE` (error: the sender
//! may correct and resend) or `AR` (rejected: not for this receiver), MSA-2
//! the control id acknowledged, MSA-3 and an ERR segment with the reason.

use hl7_parser::message::Separators;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::escape::escape;
use crate::message::Header;

/// MSA-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Application accept: the event is stored.
    Accept,
    /// Application error: the message was understood but cannot be used.
    Error,
    /// Application reject: not a message this receiver takes.
    Reject,
}

impl AckCode {
    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::Accept => "AA",
            AckCode::Error => "AE",
            AckCode::Reject => "AR",
        }
    }
}

/// Who answers: MSH-3/MSH-4 of the ACK.
pub const RECEIVING_APPLICATION: &str = "PATIENT-FLOW";

/// Builds an ACK to `header` (or to an unreadable message when `None`).
///
/// `text` goes in MSA-3 and, for `AE`/`AR`, in an ERR segment (ERR-3 code
/// from table 0357 and ERR-8 the text for 2.5 and later; ERR-1 for older
/// versions). The control id of the ACK is derived from the one
/// acknowledged, so a resend is answered with the same ACK.
pub fn build(
    header: Option<&Header>,
    code: AckCode,
    text: &str,
    error_code: Option<ErrorCode>,
    now: OffsetDateTime,
) -> String {
    let separators = Separators::default();
    let field = |value: &str| escape(value, &separators);
    let (to_app, to_facility, trigger, control_id, processing, version) = match header {
        Some(h) => (
            h.sending_application.as_str(),
            h.sending_facility.as_str(),
            h.trigger.as_str(),
            h.control_id.as_str(),
            if h.processing_id.is_empty() {
                "P"
            } else {
                h.processing_id.as_str()
            },
            if h.version.is_empty() {
                "2.5"
            } else {
                h.version.as_str()
            },
        ),
        None => ("", "", "", "", "P", "2.5"),
    };
    let stamp = now
        .format(format_description!(
            "[year][month][day][hour][minute][second][offset_hour sign:mandatory][offset_minute]"
        ))
        .unwrap_or_default();
    let ack_id: String = format!("PF{control_id}").chars().take(199).collect();
    let mut ack = format!(
        "MSH|^~\\&|{RECEIVING_APPLICATION}|PATIENT-FLOW|{}|{}|{stamp}||ACK^{}^ACK|{}|{}|{}\rMSA|{}|{}|{}\r",
        field(to_app),
        field(to_facility),
        field(trigger),
        field(&ack_id),
        field(processing),
        field(version),
        code.as_str(),
        field(control_id),
        field(text),
    );
    if code != AckCode::Accept {
        let error = error_code.unwrap_or(ErrorCode::ApplicationError);
        let modern = version
            .split('.')
            .nth(1)
            .and_then(|minor| minor.parse::<u32>().ok())
            .is_none_or(|minor| minor >= 5);
        if modern {
            ack.push_str(&format!(
                "ERR|||{}^{}^HL70357|E||||{}\r",
                error.code(),
                error.label(),
                field(text)
            ));
        } else {
            ack.push_str(&format!(
                "ERR|^^^{}&{}&HL70357\r",
                error.code(),
                field(text).replace('&', "\\T\\")
            ));
        }
    }
    ack
}

/// HL7 table 0357 message error condition codes used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 100 segment sequence error.
    SegmentSequence,
    /// 101 required field missing.
    RequiredFieldMissing,
    /// 102 data type error.
    DataType,
    /// 200 unsupported message type.
    UnsupportedMessageType,
    /// 204 unknown key identifier (an unknown location or feed).
    UnknownKey,
    /// 207 application internal error (try again).
    ApplicationError,
}

impl ErrorCode {
    /// The number.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::SegmentSequence => 100,
            ErrorCode::RequiredFieldMissing => 101,
            ErrorCode::DataType => 102,
            ErrorCode::UnsupportedMessageType => 200,
            ErrorCode::UnknownKey => 204,
            ErrorCode::ApplicationError => 207,
        }
    }

    /// Its name in the table.
    pub fn label(self) -> &'static str {
        match self {
            ErrorCode::SegmentSequence => "Segment sequence error",
            ErrorCode::RequiredFieldMissing => "Required field missing",
            ErrorCode::DataType => "Data type error",
            ErrorCode::UnsupportedMessageType => "Unsupported message type",
            ErrorCode::UnknownKey => "Unknown key identifier",
            ErrorCode::ApplicationError => "Application internal error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::parse;
    use time::macros::datetime;

    fn header(version: &str) -> Header {
        let text = format!(
            "MSH|^~\\&|EPIC|RWE|PF|PF|20260115093000||ADT^A01^ADT_A01|MSG0001|P|{version}\rEVN|A01|20260115093000\rPID|1||123^^^RWE^MR\r"
        );
        parse(text.as_bytes()).expect("parses").header
    }

    #[test]
    fn an_accept_names_the_control_id_and_parses_back() {
        let ack = build(
            Some(&header("2.4")),
            AckCode::Accept,
            "stored",
            None,
            datetime!(2026-01-15 09:30 UTC),
        );
        assert!(ack.contains("\rMSA|AA|MSG0001|stored\r"), "{ack}");
        assert!(ack.starts_with("MSH|^~\\&|PATIENT-FLOW|PATIENT-FLOW|EPIC|RWE|20260115093000+0000||ACK^A01^ACK|PFMSG0001|P|2.4\r"), "{ack}");
        assert!(!ack.contains("ERR"));
        let parsed = hl7_parser::Message::parse(ack.trim_end_matches('\r')).expect("an ACK parses");
        assert_eq!(parsed.segment_count("MSA"), 1);
    }

    #[test]
    fn an_error_carries_the_reason_escaped_in_msa_3_and_err() {
        let ack = build(
            Some(&header("2.5.1")),
            AckCode::Error,
            "location WD99|B01 is not mapped",
            Some(ErrorCode::UnknownKey),
            datetime!(2026-01-15 09:30 UTC),
        );
        assert!(
            ack.contains("MSA|AE|MSG0001|location WD99\\F\\B01 is not mapped\r"),
            "{ack}"
        );
        assert!(ack.contains("ERR|||204^Unknown key identifier^HL70357|E||||location WD99\\F\\B01 is not mapped\r"), "{ack}");
        let old = build(
            Some(&header("2.3")),
            AckCode::Reject,
            "not ADT",
            Some(ErrorCode::UnsupportedMessageType),
            datetime!(2026-01-15 09:30 UTC),
        );
        assert!(
            old.contains("MSA|AR|MSG0001|not ADT\rERR|^^^200&not ADT&HL70357\r"),
            "{old}"
        );
    }
}
