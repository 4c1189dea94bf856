//! Tracking codes citizens read over the phone: nine random digits and a Verhoeff check digit,
//! which catches every single-digit error and every swap of two adjacent digits.

use rand::Rng;

const D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];

const P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

const INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];

pub const LENGTH: usize = 10;

/// The Verhoeff check digit of `digits` (each 0–9).
pub fn check_digit(digits: &[u8]) -> u8 {
    let c = digits.iter().rev().enumerate().fold(0u8, |c, (i, &d)| D[c as usize][P[(i + 1) % 8][d as usize] as usize]);
    INV[c as usize]
}

/// True when the last digit is the Verhoeff check digit of the others.
pub fn is_valid(digits: &[u8]) -> bool {
    digits.iter().rev().enumerate().fold(0u8, |c, (i, &d)| D[c as usize][P[i % 8][d as usize] as usize]) == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackingCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackingCodeError {
    #[error("a tracking code has {LENGTH} digits")]
    Length,
    #[error("a tracking code has digits only")]
    NotDigits,
    #[error("the check digit does not match: one digit was probably misread or two were swapped")]
    CheckDigit,
}

impl TrackingCode {
    /// A new random code (the first digit is never 0, so it survives spreadsheets).
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let mut digits: Vec<u8> = Vec::with_capacity(LENGTH);
        digits.push(rng.random_range(1..=9));
        digits.extend((1..LENGTH - 1).map(|_| rng.random_range(0..=9u8)));
        digits.push(check_digit(&digits));
        Self(digits.iter().map(|d| char::from(b'0' + d)).collect())
    }

    /// Accepts Persian and Arabic-Indic digits and ignores spaces and dashes, as people type.
    pub fn parse(text: &str) -> Result<Self, TrackingCodeError> {
        let mut digits = Vec::with_capacity(LENGTH);
        for c in text.chars() {
            let digit = match c {
                '0'..='9' => c as u32 - '0' as u32,
                '۰'..='۹' => c as u32 - '۰' as u32,
                '٠'..='٩' => c as u32 - '٠' as u32,
                ' ' | '-' => continue,
                _ => return Err(TrackingCodeError::NotDigits),
            };
            digits.push(digit as u8);
        }
        if digits.len() != LENGTH {
            return Err(TrackingCodeError::Length);
        }
        if !is_valid(&digits) {
            return Err(TrackingCodeError::CheckDigit);
        }
        Ok(Self(digits.iter().map(|d| char::from(b'0' + d)).collect()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TrackingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(code: &TrackingCode) -> Vec<u8> {
        code.as_str().bytes().map(|b| b - b'0').collect()
    }

    #[test]
    fn known_verhoeff_values() {
        // The classic worked example: 236 → check digit 3.
        assert_eq!(check_digit(&[2, 3, 6]), 3);
        assert!(is_valid(&[2, 3, 6, 3]));
        assert!(!is_valid(&[2, 3, 6, 4]));
    }

    #[test]
    fn every_single_digit_error_and_adjacent_swap_is_caught() {
        for _ in 0..500 {
            let code = TrackingCode::generate();
            let good = digits(&code);
            assert!(is_valid(&good));
            for position in 0..LENGTH {
                for wrong in 0..10u8 {
                    if wrong == good[position] {
                        continue;
                    }
                    let mut bad = good.clone();
                    bad[position] = wrong;
                    assert!(!is_valid(&bad), "{code}: digit {position} → {wrong} slipped through");
                }
            }
            for position in 0..LENGTH - 1 {
                if good[position] == good[position + 1] {
                    continue;
                }
                let mut swapped = good.clone();
                swapped.swap(position, position + 1);
                assert!(!is_valid(&swapped), "{code}: swap at {position} slipped through");
            }
        }
    }

    #[test]
    fn parsing_accepts_persian_digits_and_separators() {
        let code = TrackingCode::generate();
        let persian: String =
            code.as_str().chars().map(|c| char::from_u32('۰' as u32 + (c as u32 - '0' as u32)).unwrap()).collect();
        assert_eq!(TrackingCode::parse(&persian).unwrap(), code);
        let spaced = format!("{} {}", &code.as_str()[..5], &code.as_str()[5..]);
        assert_eq!(TrackingCode::parse(&spaced).unwrap(), code);
    }

    #[test]
    fn parsing_names_what_is_wrong() {
        assert_eq!(TrackingCode::parse("123"), Err(TrackingCodeError::Length));
        assert_eq!(TrackingCode::parse("12345abcde"), Err(TrackingCodeError::NotDigits));
        let code = TrackingCode::generate();
        let mut text: Vec<char> = code.as_str().chars().collect();
        text[3] = if text[3] == '9' { '0' } else { char::from(text[3] as u8 + 1) };
        let misread: String = text.into_iter().collect();
        assert_eq!(TrackingCode::parse(&misread), Err(TrackingCodeError::CheckDigit));
    }

    #[test]
    fn generated_codes_never_start_with_zero() {
        for _ in 0..200 {
            assert_ne!(TrackingCode::generate().as_str().as_bytes()[0], b'0');
        }
    }
}
