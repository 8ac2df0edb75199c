//! Threshold arithmetic over the trustees' identifiers
//! (specs/tracing.md §1.2): Lagrange coefficients and interpolation in the
//! exponent, used to check that a TTP key statement's verification shares
//! `Y_i` lie on one polynomial whose value at 0 is `Y_T`, and to combine
//! decryption shares.
//!
//! A trustee's identifier is a nonzero `u16` `i`; as a scalar it is `i`
//! (FROST's `Identifier::try_from(i)`).

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;

use crate::encoding::Point;

/// The Lagrange coefficient `λ_i(x) = Π_{j ≠ i} (x - j) / (i - j)` of the
/// identifier `i` among `ids` at `x`; `None` if `i` is not among `ids`, an
/// identifier is zero or two are equal.
pub fn lagrange_coefficient(ids: &[u16], i: u16, x: &Scalar) -> Option<Scalar> {
    if i == 0 || !ids.contains(&i) {
        return None;
    }
    let xi = Scalar::from(i);
    let mut num = Scalar::ONE;
    let mut den = Scalar::ONE;
    let mut seen_self = false;
    for &j in ids {
        if j == 0 {
            return None;
        }
        if j == i {
            if seen_self {
                return None;
            }
            seen_self = true;
            continue;
        }
        let xj = Scalar::from(j);
        num *= x - xj;
        den *= xi - xj;
    }
    Some(num * den.invert())
}

/// `Σ λ_i(x)·P_i` over the identified points `shares` (public data: this
/// runs in variable time); `None` if the identifiers are not distinct and
/// nonzero or the list is empty.
pub fn interpolate(shares: &[(u16, Point)], x: &Scalar) -> Option<RistrettoPoint> {
    if shares.is_empty() {
        return None;
    }
    let ids: Vec<u16> = shares.iter().map(|(i, _)| *i).collect();
    let coefficients =
        ids.iter().map(|i| lagrange_coefficient(&ids, *i, x)).collect::<Option<Vec<Scalar>>>()?;
    Some(RistrettoPoint::vartime_multiscalar_mul(coefficients, shares.iter().map(|(_, p)| *p.point())))
}

/// `Σ λ_i(0)·D_i` over decryption shares `D_i = x_i·E1` of distinct
/// trustees: `x·E1` when the `x_i` are `t` shares of `x` (Lagrange at 0;
/// specs/tracing.md §9.3). `None` as for [`interpolate`].
pub fn combine_decryption_shares(shares: &[(u16, Point)]) -> Option<RistrettoPoint> {
    interpolate(shares, &Scalar::ZERO)
}

/// `Σ_k x^k·C_k`: the value at `x` of the polynomial whose coefficients are
/// committed to by `C_0, C_1, …` (a Feldman commitment), in the exponent
/// (public data: variable time).
pub fn evaluate_in_exponent(commitments: &[Point], x: u16) -> RistrettoPoint {
    let x = Scalar::from(x);
    let mut power = Scalar::ONE;
    let powers: Vec<Scalar> = commitments
        .iter()
        .map(|_| {
            let p = power;
            power *= x;
            p
        })
        .collect();
    RistrettoPoint::vartime_multiscalar_mul(powers, commitments.iter().map(|c| *c.point()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;
    use rand::rngs::OsRng;

    /// Shares `f(i)·G` of a random polynomial of degree `t - 1` with `f(0) = s`.
    fn shares(s: Scalar, t: usize, ids: &[u16]) -> Vec<(u16, Point)> {
        let coeffs: Vec<Scalar> =
            std::iter::once(s).chain((1..t).map(|_| Scalar::random(&mut OsRng))).collect();
        let g = Params::get().g;
        ids.iter()
            .map(|&i| {
                let x = Scalar::from(i);
                let y = coeffs.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c);
                (i, Point::new(g.point() * y))
            })
            .collect()
    }

    #[test]
    fn any_t_shares_interpolate_to_the_secret_and_fewer_do_not() {
        let s = Scalar::random(&mut OsRng);
        let secret_point = Params::get().g.point() * s;
        let all = shares(s, 3, &[1, 2, 3, 4, 5]);
        for pick in [[0usize, 1, 2], [0, 2, 4], [1, 3, 4], [4, 3, 2]] {
            let subset: Vec<(u16, Point)> = pick.iter().map(|&k| all[k]).collect();
            assert_eq!(interpolate(&subset, &Scalar::ZERO), Some(secret_point));
            // and to every other share
            assert_eq!(interpolate(&subset, &Scalar::from(4u16)), Some(*all[3].1.point()));
        }
        assert_ne!(interpolate(&all[..2], &Scalar::ZERO), Some(secret_point));
    }

    #[test]
    fn shares_of_a_decryption_combine_to_the_key_times_e1() {
        let g = Params::get().g;
        let x = Scalar::random(&mut OsRng);
        let coeffs = [x, Scalar::random(&mut OsRng)];
        let e1 = g.point() * Scalar::random(&mut OsRng);
        let share = |i: u16| {
            let xi = coeffs[0] + coeffs[1] * Scalar::from(i);
            (i, Point::new(e1 * xi))
        };
        assert_eq!(combine_decryption_shares(&[share(3), share(1)]), Some(e1 * x));
        assert_ne!(combine_decryption_shares(&[share(3)]), Some(e1 * x));
    }

    #[test]
    fn commitments_give_every_share_in_the_exponent() {
        let g = Params::get().g;
        let coeffs = [Scalar::random(&mut OsRng), Scalar::random(&mut OsRng)];
        let commitments: Vec<Point> = coeffs.iter().map(|c| Point::new(g.point() * c)).collect();
        assert_eq!(
            evaluate_in_exponent(&commitments, 5),
            g.point() * (coeffs[0] + coeffs[1] * Scalar::from(5u16))
        );
        assert_eq!(evaluate_in_exponent(&commitments, 0), *commitments[0].point());
    }

    #[test]
    fn degenerate_identifiers_are_refused() {
        assert_eq!(lagrange_coefficient(&[1, 2], 3, &Scalar::ZERO), None);
        assert_eq!(lagrange_coefficient(&[0, 2], 2, &Scalar::ZERO), None);
        assert_eq!(lagrange_coefficient(&[2, 2], 2, &Scalar::ZERO), None);
        assert_eq!(lagrange_coefficient(&[1], 1, &Scalar::ZERO), Some(Scalar::ONE));
        assert!(interpolate(&[], &Scalar::ZERO).is_none());
    }
}
