//! The message of a panic that ended one of the runner's own tasks or threads (the load task,
//! the read-throughout consumer), for the error that names the cause.

use std::any::Any;

/// The message `panic!` was given (a `String` or a `&str` payload); a placeholder for any
/// other payload. Takes the payload by value, as `JoinError::into_panic` and
/// `std::thread::JoinHandle::join` give it (a `&Box<dyn Any>` would itself be the `Any`).
pub fn message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => (*s).to_owned(),
            Err(_) => "a panic without a message".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_message_is_read_from_a_string_or_str_payload() {
        let code = 42;
        let formatted = std::panic::catch_unwind(|| panic!("timed out ({code})")).unwrap_err();
        assert_eq!(message(formatted), "timed out (42)");
        let literal = std::panic::catch_unwind(|| panic!("timed out")).unwrap_err();
        assert_eq!(message(literal), "timed out");
        assert_eq!(message(Box::new(7_u8)), "a panic without a message");
    }
}
