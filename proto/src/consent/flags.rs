//! Small copyable sets of purposes or fields, one bit per member: the gate
//! checks them for every event, so they must cost nothing to pass around.

use std::fmt;
use std::marker::PhantomData;

/// A closed enum that can live in a [`Flags`] set.
pub trait Flag: Copy + fmt::Debug + 'static {
    /// Every member, in a stable order (at most 16).
    const ALL: &'static [Self];
    /// The member's bit position, below 16.
    fn index(self) -> u8;
}

/// A set of `T`s.
pub struct Flags<T> {
    bits: u16,
    kind: PhantomData<T>,
}

impl<T: Flag> Flags<T> {
    /// The empty set.
    pub const EMPTY: Self = Self::from_bits(0);

    const fn from_bits(bits: u16) -> Self {
        Self {
            bits,
            kind: PhantomData,
        }
    }

    /// The set of `members`.
    #[must_use]
    pub fn of(members: &[T]) -> Self {
        members.iter().fold(Self::EMPTY, |set, &m| set.with(m))
    }

    /// This set plus `member`.
    #[must_use]
    pub fn with(self, member: T) -> Self {
        Self::from_bits(self.bits | 1 << member.index())
    }

    /// This set without `member`.
    #[must_use]
    pub fn without(self, member: T) -> Self {
        Self::from_bits(self.bits & !(1 << member.index()))
    }

    /// Whether `member` is in the set.
    #[must_use]
    pub fn contains(self, member: T) -> bool {
        self.bits & 1 << member.index() != 0
    }

    /// Whether every member of `self` is in `other`.
    #[must_use]
    pub const fn is_subset(self, other: Self) -> bool {
        self.bits & !other.bits == 0
    }

    /// Members of `self` that are not in `other`.
    #[must_use]
    pub const fn difference(self, other: Self) -> Self {
        Self::from_bits(self.bits & !other.bits)
    }

    /// Members of either set.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self::from_bits(self.bits | other.bits)
    }

    /// Members of both sets.
    #[must_use]
    pub const fn intersection(self, other: Self) -> Self {
        Self::from_bits(self.bits & other.bits)
    }

    /// Whether the set has no member.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// The members, in [`Flag::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = T> {
        T::ALL.iter().copied().filter(move |&m| self.contains(m))
    }
}

// Derives would bound `T` itself; the set is plain bits whatever `T` is.
impl<T> Clone for Flags<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Flags<T> {}
impl<T> PartialEq for Flags<T> {
    fn eq(&self, other: &Self) -> bool {
        self.bits == other.bits
    }
}
impl<T> Eq for Flags<T> {}
impl<T> std::hash::Hash for Flags<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bits.hash(state);
    }
}
impl<T: Flag> Default for Flags<T> {
    fn default() -> Self {
        Self::EMPTY
    }
}
impl<T: Flag> fmt::Debug for Flags<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}
impl<T: Flag> FromIterator<T> for Flags<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}
