"""Pattern recognizers with checksums: national IDs, IBAN, cards, phones, e-mail, IP, dates of birth,
addresses and special categories. Each is a small class with ``analyze(text, language)``."""

from privacy.recognizers.base import Recognizer
from privacy.recognizers.contact import EmailRecognizer, HandleRecognizer, IpRecognizer, PhoneRecognizer
from privacy.recognizers.financial import CardRecognizer, IbanRecognizer
from privacy.recognizers.identifiers import NATIONAL_IDS, IdSpec, NationalIdRecognizer
from privacy.recognizers.personal import AddressRecognizer, BirthDateRecognizer
from privacy.recognizers.special import SpecialCategoryRecognizer

__all__ = [
    "NATIONAL_IDS", "AddressRecognizer", "BirthDateRecognizer", "CardRecognizer", "EmailRecognizer",
    "HandleRecognizer", "IbanRecognizer", "IdSpec", "IpRecognizer", "NationalIdRecognizer", "PhoneRecognizer",
    "Recognizer", "SpecialCategoryRecognizer",
]
