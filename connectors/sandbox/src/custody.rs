//! Custody relations in the simulated person register: two synthetic children (not among
//! the 60 citizens: they have no data in the sources), in the same number block as the
//! citizens (born on the 1st, serial 99xx).
//!
//! | child | born | custody |
//! |---|---|---|
//! | Emil (`0103149950`) | 2014-03-01 | citizens 0 and 5, jointly |
//! | Ida (`0106099951`) | 2009-06-01 (15 or older from 2024) | citizen 0 |

use consent::Cpr;

use crate::citizens::cpr_of;

/// A synthetic child and who holds custody of them (citizen indices).
#[derive(Debug, Clone)]
pub struct Child {
    pub cpr: Cpr,
    pub name: String,
    pub custody: Vec<usize>,
}

/// Every synthetic child.
pub fn children() -> Vec<Child> {
    let child = |cpr: &str, name: &str, custody: Vec<usize>| Child {
        cpr: Cpr::parse(cpr).expect("a valid synthetic CPR number"),
        name: name.into(),
        custody,
    };
    vec![child("0103149950", "Emil Nielsen", vec![0, 5]), child("0106099951", "Ida Nielsen", vec![0])]
}

/// The children the citizen `parent` holds custody of.
pub fn children_of(parent: &Cpr) -> Vec<Child> {
    children().into_iter().filter(|c| c.custody.iter().any(|i| cpr_of(*i) == *parent)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_children_are_synthetic_and_emil_has_two_parents() {
        for c in children() {
            assert!(crate::citizens::is_synthetic(&c.cpr), "{:?}", c.cpr);
        }
        assert_eq!(children_of(&cpr_of(0)).len(), 2);
        assert_eq!(children_of(&cpr_of(5)).len(), 1);
        assert!(children_of(&cpr_of(1)).is_empty());
    }
}
