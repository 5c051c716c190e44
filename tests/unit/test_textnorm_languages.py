"""Text normalisation per language (voicecast.textnorm_intl): pure, no model.

Expected strings are written by hand from each language's conventions; the
choices (RAE's reading of the 24-hour clock, French day "premier", Hindi years
in hundreds...) are the ones the module's docstring documents.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicecast import textnorm
from voicecast.textnorm_intl import LANGUAGES, normalize_for


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def check(language: str, text: str, expected: str) -> None:
    assert normalize_for(text, language) == nfc(expected)


# --------------------------------------------------------------------------- Spanish

ES = [
    # cardinals, separators, negatives, decimals
    ("Tengo 3 gatos.", "Tengo tres gatos."),
    ("Son 16 y 22 y 100 y 101.", "Son dieciséis y veintidós y cien y ciento uno."),
    ("Hubo 1.234 votos.", "Hubo mil doscientos treinta y cuatro votos."),
    ("Pesa 1.234,5 kilos.", "Pesa mil doscientos treinta y cuatro coma cinco kilos."),
    ("El número 21.", "El número veintiuno."),
    ("Hay 21.000 votos.", "Hay veintiún mil votos."),
    ("1.000.000 de casos", "un millón de casos"),
    ("Llegaron 100 000 personas.", "Llegaron cien mil personas."),
    ("Marcó -5 y −3,5.", "Marcó menos cinco y menos tres coma cinco."),
    ("Pi es 3,14 o 3.14.", "Pi es tres coma catorce o tres coma catorce."),
    ("Es 0,05.", "Es cero coma cero cinco."),
    ("El agente 007.", "El agente cero cero siete."),
    ("Tengo 21 años y 1 hijo.", "Tengo veintiún años y un hijo."),
    ("Vino 1 de cada 3.", "Vino uno de cada tres."),
    ("Ver la página 21 ahora.", "Ver la página veintiuno ahora."),
    ("Páginas 10-20 y 30–40.", "Páginas diez a veinte y treinta a cuarenta."),
    # years are cardinals
    ("En 1999 y en 2024.", "En mil novecientos noventa y nueve y en dos mil veinticuatro."),
    # ordinals
    ("El 1.º y la 2.ª", "El primero y la segunda"),
    ("El 1º y la 3ª", "El primero y la tercera"),
    ("Vivo en el 3.er piso.", "Vivo en el tercer piso."),
    ("El 1.er día", "El primer día"),
    ("Los 1.os y las 2.as", "Los primeros y las segundas"),
    ("El 11.º y el 21.º", "El decimoprimero y el vigésimo primero"),
    ("El 1° de mayo", "El primero de mayo"),
    ("Hizo 25° a la sombra y 30 °C.", "Hizo veinticinco grados a la sombra y treinta grados Celsius."),
    # dates
    ("El 12/03/2024 llegó.", "El doce de marzo de dos mil veinticuatro llegó."),
    ("Nació el 1-1-1999.", "Nació el uno de enero de mil novecientos noventa y nueve."),
    ("Fecha: 2024-03-12.", "Fecha: doce de marzo de dos mil veinticuatro."),
    ("El 5/6/24", "El cinco de junio del veinticuatro"),
    # times
    ("A las 14:30.", "A las catorce treinta."),
    ("A las 14:05 h.", "A las catorce cero cinco."),
    ("A las 14:00.", "A las catorce en punto."),
    ("A la 1:15.", "A la una quince."),
    ("A las 21:00.", "A las veintiuna en punto."),
    ("Dura 2 h.", "Dura dos horas."),
    ("A las 10:30 a. m.", "A las diez treinta de la mañana."),
    ("A las 9 p. m. Luego", "A las nueve de la noche. Luego"),
    ("De 9:00-17:00.", "De nueve en punto a diecisiete en punto."),
    # currency
    ("Cuesta 12,50 €.", "Cuesta doce euros con cincuenta céntimos."),
    ("Cuesta €12.50.", "Cuesta doce euros con cincuenta céntimos."),
    ("Cuesta 1 € o 21 €.", "Cuesta un euro o veintiún euros."),
    ("Cuesta $5 o $1.", "Cuesta cinco dólares o un dólar."),
    ("Son 0,50 €.", "Son cincuenta céntimos."),
    ("Son 1.000.000 €.", "Son un millón de euros."),
    ("Son 5 millones €.", "Son cinco millones de euros."),
    ("Son £1 y £21.", "Son una libra y veintiuna libras."),
    ("Son 10 EUR.", "Son diez euros."),
    # percent
    ("Un 50 % y un 50%.", "Un cincuenta por ciento y un cincuenta por ciento."),
    ("Subió un 2,5 %.", "Subió un dos coma cinco por ciento."),
    # abbreviations
    ("El Sr. García y la Sra. Pérez.", "El señor García y la señora Pérez."),
    ("La Dra. López y el Dr. Ruiz.", "La doctora López y el doctor Ruiz."),
    ("Sr. García, pase.", "Señor García, pase."),
    ("Frutas, p. ej., peras, etc.", "Frutas, por ejemplo, peras, etcétera."),
    ("Peras, etc. Luego manzanas.", "Peras, etcétera. Luego manzanas."),
    ("Vive en EE. UU. y la Srta. Gil también.", "Vive en Estados Unidos y la señorita Gil también."),
    ("El nº 5 y el n.º 7", "El número cinco y el número siete"),
    ("Año 300 a. C.", "Año trescientos antes de Cristo."),
    # symbols
    ("Juan & Ana", "Juan y Ana"),
    ("2 + 2 = 4", "dos más dos igual a cuatro"),
]


@pytest.mark.parametrize(("text", "expected"), ES)
def test_spanish(text: str, expected: str) -> None:
    check("es", text, expected)


# --------------------------------------------------------------------------- French

FR = [
    ("Il a 3 chats.", "Il a trois chats."),
    (
        "Il y a 21 et 71 et 80 et 91.",
        "Il y a vingt et un et soixante et onze et quatre-vingts et quatre-vingt-onze.",
    ),
    ("Ils étaient 1 234 et 10\u202f000.", "Ils étaient mille deux cent trente-quatre et dix mille."),
    ("Il pèse 1 234,5 kilos.", "Il pèse mille deux cent trente-quatre virgule cinq kilos."),
    ("Il fait -5 °C.", "Il fait moins cinq degrés Celsius."),
    ("Il a fait 1,5 km et 2 km.", "Il a fait un virgule cinq kilomètre et deux kilomètres."),
    ("En 1999.", "En mille neuf cent quatre-vingt-dix-neuf."),
    ("De 10-20 personnes.", "De dix à vingt personnes."),
    # ordinals
    ("Le 1er mai et la 1re fois.", "Le premier mai et la première fois."),
    ("La 1ère et le 2e et la 2ème.", "La première et le deuxième et la deuxième."),
    ("Le 2nd et la 2nde.", "Le second et la seconde."),
    ("Les 1ers et les 3es.", "Les premiers et les troisièmes."),
    ("Le 21e siècle et le XXIe siècle.", "Le vingt et unième siècle et le vingt et unième siècle."),
    ("Napoléon III et François Ier.", "Napoléon III et François premier."),
    # dates
    ("Le 12/03/2024.", "Le douze mars deux mille vingt-quatre."),
    ("Le 01/05/2024.", "Le premier mai deux mille vingt-quatre."),
    ("Le 1 mai.", "Le premier mai."),
    # times
    ("Il est 14:30.", "Il est quatorze heures trente."),
    ("Il est 14h30 ou 14 h 30.", "Il est quatorze heures trente ou quatorze heures trente."),
    ("Rendez-vous à 14h.", "Rendez-vous à quatorze heures."),
    ("Il est 1:00.", "Il est une heure."),
    ("Il est 21h01.", "Il est vingt et une heures une."),
    ("Il est 0h15.", "Il est zéro heure quinze."),
    # currency
    ("Ça coûte 12,50 €.", "Ça coûte douze euros et cinquante centimes."),
    ("Ça coûte 1 € ou 1,50 €.", "Ça coûte un euro ou un euro et cinquante centimes."),
    ("Ça coûte $5.", "Ça coûte cinq dollars."),
    ("Ça coûte 1 000 000 €.", "Ça coûte un million d'euros."),
    ("Ça coûte 2 millions $.", "Ça coûte deux millions de dollars."),
    ("Ça coûte £1.", "Ça coûte une livre."),
    # percent
    ("Il a 50 % et 50%.", "Il a cinquante pour cent et cinquante pour cent."),
    # abbreviations
    ("M. Dupont et Mme Martin.", "Monsieur Dupont et madame Martin."),
    ("Mlle Roux et MM. Blanc.", "Mademoiselle Roux et messieurs Blanc."),
    ("Le Dr Roux et le Pr Petit.", "Le docteur Roux et le professeur Petit."),
    ("À St-Denis et Ste-Marie.", "À Saint-Denis et Sainte-Marie."),
    ("Des fruits, p. ex. des poires, etc.", "Des fruits, par exemple des poires, et cetera."),
    ("C'est-à-dire, c.-à-d. ici.", "C'est-à-dire, c'est-à-dire ici."),
    ("En 52 av. J.-C.", "En cinquante-deux avant Jésus-Christ."),
    ("Le n° 5.", "Le numéro cinq."),
    ("Tom & Jerry", "Tom et Jerry"),
]


@pytest.mark.parametrize(("text", "expected"), FR)
def test_french(text: str, expected: str) -> None:
    check("fr", text, expected)


# --------------------------------------------------------------------------- Italian

IT = [
    ("Ho 3 gatti.", "Ho tre gatti."),
    ("Sono 21 e 23 e 100.", "Sono ventuno e ventitré e cento."),
    ("Sono 1.234 persone.", "Sono milleduecentotrentaquattro persone."),
    ("Pesa 1.234,5 chili.", "Pesa milleduecentotrentaquattro virgola cinque chili."),
    ("Segna -5.", "Segna meno cinque."),
    ("Ho 1 libro e 1 studente.", "Ho un libro e uno studente."),
    ("Uno dei 2, 1 dei due.", "Uno dei due, uno dei due."),
    ("Nel 1999.", "Nel millenovecentonovantanove."),
    ("Da 10-20 anni.", "Da dieci a venti anni."),
    # ordinals
    ("Il 1° maggio e il 3° classificato.", "Il primo maggio e il terzo classificato."),
    ("La 1ª volta e il 2º posto.", "La prima volta e il secondo posto."),
    ("Il 21° secolo.", "Il ventunesimo secolo."),
    ("Fa 30° all'ombra.", "Fa trenta gradi all'ombra."),
    # dates
    ("Il 12/03/2024.", "Il dodici marzo duemilaventiquattro."),
    ("Il 1/5/2024 e il 1 maggio.", "Il primo maggio duemilaventiquattro e il primo maggio."),
    # times
    ("Alle 14:30.", "Alle quattordici e trenta."),
    ("Alle 14.30 e alle 9.05.", "Alle quattordici e trenta e alle nove e cinque."),
    ("Alle 14:00.", "Alle quattordici."),
    ("All'1:00.", "All'una."),
    # currency
    ("Costa 12,50 €.", "Costa dodici euro e cinquanta centesimi."),
    ("Costa 1 € o $5.", "Costa un euro o cinque dollari."),
    ("Costa 1.000.000 €.", "Costa un milione di euro."),
    ("Costa £1.", "Costa una sterlina."),
    # percent
    ("Il 50 % e il 50%.", "Il cinquanta per cento e il cinquanta per cento."),
    # abbreviations
    ("La Sig.ra Rossi e il Sig. Verdi.", "La signora Rossi e il signor Verdi."),
    ("La Dott.ssa Neri e il Dott. Bianchi.", "La dottoressa Neri e il dottor Bianchi."),
    ("Il Prof. Gialli e la Prof.ssa Viola.", "Il professor Gialli e la professoressa Viola."),
    ("Frutta, ad es. pere, mele ecc.", "Frutta, ad esempio pere, mele eccetera."),
    ("Mele ecc. Poi pere.", "Mele eccetera. Poi pere."),
    ("Nel 44 a.C.", "Nel quarantaquattro avanti Cristo."),
    ("Il n. 5.", "Il numero cinque."),
]


@pytest.mark.parametrize(("text", "expected"), IT)
def test_italian(text: str, expected: str) -> None:
    check("it", text, expected)


# --------------------------------------------------------------------------- Portuguese (Brazil)

PT = [
    ("Tenho 3 gatos.", "Tenho três gatos."),
    ("São 16 e 21 e 101.", "São dezesseis e vinte e um e cento e um."),
    ("São 1.234 livros.", "São mil duzentos e trinta e quatro livros."),
    ("São 1.234.567.", "São um milhão duzentos e trinta e quatro mil quinhentos e sessenta e sete."),
    ("Pesa 2,5 quilos.", "Pesa dois vírgula cinco quilos."),
    ("Marcou -5.", "Marcou menos cinco."),
    ("Em 1999 e 2024.", "Em mil novecentos e noventa e nove e dois mil e vinte e quatro."),
    ("De 10-20 pessoas.", "De dez a vinte pessoas."),
    # ordinals
    ("O 1º lugar e a 1ª vez.", "O primeiro lugar e a primeira vez."),
    ("O 2.º e a 3.ª", "O segundo e a terceira"),
    ("O 1° de maio.", "O primeiro de maio."),
    # dates
    ("Em 12/03/2024.", "Em doze de março de dois mil e vinte e quatro."),
    ("Em 1 de maio.", "Em primeiro de maio."),
    # times
    ("Às 14:30.", "Às catorze e trinta."),
    ("Às 14h30 ou às 14h.", "Às catorze e trinta ou às catorze horas."),
    ("À 1:00 e às 2:15.", "À uma hora e às duas e quinze."),
    ("Às 21:00.", "Às vinte e uma horas."),
    # currency
    ("Custa R$ 10,00.", "Custa dez reais."),
    ("Custa R$ 1,50.", "Custa um real e cinquenta centavos."),
    ("Custa R$ 1.000.000,00.", "Custa um milhão de reais."),
    ("Custa R$ 2.200,00.", "Custa dois mil e duzentos reais."),
    ("Custa 12,50 € ou $5.", "Custa doze euros e cinquenta centavos ou cinco dólares."),
    ("Custa £2 ou £200.", "Custa duas libras ou duzentas libras."),
    # percent
    ("Cerca de 50 % e 50%.", "Cerca de cinquenta por cento e cinquenta por cento."),
    # abbreviations
    ("O Sr. Silva e a Sra. Souza.", "O senhor Silva e a senhora Souza."),
    ("O Dr. Lima e a Dra. Costa.", "O doutor Lima e a doutora Costa."),
    ("Frutas, p. ex. peras, etc.", "Frutas, por exemplo peras, et cetera."),
    ("Na Av. Paulista, nº 5.", "Na avenida Paulista, número cinco."),
]


@pytest.mark.parametrize(("text", "expected"), PT)
def test_portuguese(text: str, expected: str) -> None:
    check("pt", text, expected)


# A count takes its noun's gender (guessed from the noun's ending and short
# lists): feminine numerals before feminine nouns, masculine otherwise.
GENDER = [
    ("es", "Tengo 1 casa y 21 casas.", "Tengo una casa y veintiuna casas."),
    ("es", "Vinieron 200 personas, luego 200.000 personas.",
     "Vinieron doscientas personas, luego doscientas mil personas."),
    ("es", "Faltan 1 canción y 1 ciudad.", "Faltan una canción y una ciudad."),
    ("es", "Con 1 mano y 1 noche.", "Con una mano y una noche."),
    ("es", "Fue 1 día, 1 problema y 21 años.", "Fue un día, un problema y veintiún años."),
    ("es", "Hay 1 artista.", "Hay un artista."),  # either gender: left as it was
    ("es", "Ver la página 21 ahora.", "Ver la página veintiuno ahora."),  # a label, not a count
    ("es", "De 1 a 2 horas.", "De uno a dos horas."),  # a function word after it
    ("pt", "Tenho 1 casa e 2 casas.", "Tenho uma casa e duas casas."),
    ("pt", "Vieram 200 pessoas e 22 mulheres.", "Vieram duzentas pessoas e vinte e duas mulheres."),
    ("pt", "Foram 2 dias e 1 problema.", "Foram dois dias e um problema."),
    ("pt", "Uma viagem de 1 hora com 2 mãos.", "Uma viagem de uma hora com duas mãos."),
    ("pt", "De 2 para 3.", "De dois para três."),
    ("it", "Ho 1 casa e 1 notte.", "Ho una casa e una notte."),
    ("it", "Per 1 ora e 1 libro.", "Per un ora e un libro."),  # "un'ora": the elision sounds the same
    ("it", "Con 1 studente e 1 scuola.", "Con uno studente e una scuola."),
    ("it", "Solo 1 problema.", "Solo un problema."),
    ("fr", "Il a 1 semaine et 21 pages.", "Il a une semaine et vingt et une pages."),
    ("fr", "Encore 1 heure et 1 fois.", "Encore une heure et une fois."),
    ("fr", "Il y a 31 personnes et 41 maisons.",
     "Il y a trente et une personnes et quarante et une maisons."),
    ("fr", "Un seul 1 an et 1 musée.", "Un seul un an et un musée."),
    ("fr", "Il a 1 livre.", "Il a un livre."),
]


@pytest.mark.parametrize(("language", "text", "expected"), GENDER)
def test_a_count_takes_its_nouns_gender(language: str, text: str, expected: str) -> None:
    check(language, text, expected)
    assert normalize_for(expected, language) == nfc(expected)  # and it stays so


@pytest.mark.parametrize("tag", ["pt", "pt-BR", "pt_BR", "PT-br", "pt-PT", "por"])
def test_portuguese_tags_share_the_rules(tag: str) -> None:
    assert normalize_for("R$ 10,00", tag) == "dez reais"


# --------------------------------------------------------------------------- Hindi

HI = [
    ("3 किताबें", "तीन किताबें"),
    ("21 और 44 और 79 और 99", "इक्कीस और चवालीस और उन्यासी और निन्यानवे"),
    ("100 और 101 और 250", "एक सौ और एक सौ एक और दो सौ पचास"),
    ("1,00,000 लोग", "एक लाख लोग"),
    ("1,50,000 और 1,234,567", "एक लाख पचास हज़ार और बारह लाख चौंतीस हज़ार पाँच सौ सड़सठ"),
    ("2,00,00,000 रुपये", "दो करोड़ रुपये"),
    ("१२३ और ४५", "एक सौ तेईस और पैंतालीस"),
    ("3.14 और -5", "तीन दशमलव एक चार और माइनस पाँच"),
    ("10-20 लोग", "दस से बीस लोग"),
    # years
    ("1947 में", "उन्नीस सौ सैंतालीस में"),
    ("2024 में", "दो हज़ार चौबीस में"),
    # ordinals
    ("1ला, 2रा, 3रा, 4था, 6ठा", "पहला, दूसरा, तीसरा, चौथा, छठा"),
    ("5वाँ और 5वां", "पाँचवाँ और पाँचवाँ"),
    ("21वीं सदी", "इक्कीसवीं सदी"),
    ("1ली बार, 10वें दिन", "पहली बार, दसवें दिन"),
    # dates
    ("12/03/2024 को", "बारह मार्च दो हज़ार चौबीस को"),
    ("15/08/1947", "पंद्रह अगस्त उन्नीस सौ सैंतालीस"),
    # times
    ("14:30 बजे", "चौदह बजकर तीस मिनट"),
    ("9:00 बजे", "नौ बजे"),
    ("5 बजे", "पाँच बजे"),
    # currency
    ("₹500", "पाँच सौ रुपये"),
    ("₹1", "एक रुपया"),
    ("₹10.50", "दस रुपये पचास पैसे"),
    ("Rs. 1,00,000 और रु. 500", "एक लाख रुपये और पाँच सौ रुपये"),
    ("₹5 लाख", "पाँच लाख रुपये"),
    ("$5", "पाँच डॉलर"),
    # percent
    ("50% लोग", "पचास प्रतिशत लोग"),
    # abbreviations
    ("डॉ. शर्मा आए।", "डॉक्टर शर्मा आए।"),
    ("प्रो. वर्मा और कु. सीमा", "प्रोफ़ेसर वर्मा और कुमारी सीमा"),
    ("पृ. 5", "पृष्ठ पाँच"),
    ("500 ई.पू. में", "पाँच सौ ईसा पूर्व में"),
]


@pytest.mark.parametrize(("text", "expected"), HI)
def test_hindi(text: str, expected: str) -> None:
    check("hi", text, expected)


# --------------------------------------------------------------------------- shared behaviour

ENGLISH = [
    "Dr. Smith paid $5.50 on Jan. 21st, 1999 -- 45% more.",
    "Meet me at 10:30 a.m. on 12/25/2024\u2026 or call 555-1234.",
    "\u201cIt\u2019s 3.5 km,\u201d she said \u2014 about 1,200 people.",
    "",
]


@pytest.mark.parametrize("text", ENGLISH)
@pytest.mark.parametrize("tag", ["en", "en-US", "en-GB", "EN", ""])
def test_english_is_textnorm(text: str, tag: str) -> None:
    assert normalize_for(text, tag) == textnorm.normalize(text)


def test_english_is_the_default() -> None:
    assert normalize_for("Dr. Smith at 10:30.") == textnorm.normalize("Dr. Smith at 10:30.")


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("es", "\u201cHola\u201d \u2014 dijo\u2026 \u00abbien\u00bb", '"Hola" \u2014 dijo\u2026 "bien"'),
        ("es", "Espera... ya -- vale", "Espera\u2026 ya \u2014 vale"),
        ("fr", "\u00ab\u00a0Bonjour\u00a0\u00bb, dit-il\u202f!", '" Bonjour ", dit-il!'),
        ("it", "L\u2019anno \u2018buono\u2019", "L'anno 'buono'"),
        ("pt", "Ele disse:\n\n  \u201csim\u201d", 'Ele disse: "sim"'),
        ("hi", "\u201cनमस्ते\u201d\u2026", '"नमस्ते"\u2026'),
    ],
)
def test_typography_as_english(language: str, text: str, expected: str) -> None:
    check(language, text, expected)


# Already worded text, and each language's normalised output, is left as it is.
WORDED = {
    "es": "El doctor García llegó a las catorce treinta con veintiún euros.",
    "fr": "Monsieur Dupont est arrivé le premier mai à quatorze heures.",
    "it": "Il dottor Rossi è arrivato alle quattordici e trenta.",
    "pt": "O senhor Silva pagou dez reais às catorze e trinta.",
    "hi": "डॉक्टर शर्मा चौदह बजकर तीस मिनट पर आए।",
}


@pytest.mark.parametrize("language", sorted(WORDED))
def test_worded_text_is_unchanged(language: str) -> None:
    check(language, WORDED[language], WORDED[language])


@pytest.mark.parametrize(
    ("language", "text"),
    [("es", t) for t, _ in ES]
    + [("fr", t) for t, _ in FR]
    + [("it", t) for t, _ in IT]
    + [("pt", t) for t, _ in PT]
    + [("hi", t) for t, _ in HI],
)
def test_idempotent(language: str, text: str) -> None:
    once = normalize_for(text, language)
    assert normalize_for(once, language) == once


@pytest.mark.parametrize("language", ["es", "fr", "it", "pt", "hi"])
def test_no_digits_left_and_nfc(language: str) -> None:
    text = "1 2,5 -3 10:30 50% 12/03/2024 1.000 ₹5 €7 007"
    out = normalize_for(text, language)
    assert not any(c.isdigit() for c in out), out
    assert out == nfc(out)


@pytest.mark.parametrize("language", ["es", "fr", "it", "pt", "hi"])
def test_empty_and_blank(language: str) -> None:
    assert normalize_for("", language) == ""
    assert normalize_for(" \n\t\u00a0", language) == ""


@pytest.mark.parametrize("tag", ["de", "ja", "zh", "xx", "english"])
def test_unknown_language_is_a_value_error(tag: str) -> None:
    with pytest.raises(ValueError, match=repr(tag)):
        normalize_for("hola", tag)


def test_languages_constant() -> None:
    assert {"en", "es", "fr", "it", "pt", "hi"} == LANGUAGES


# --------------------------------------------------------------------------- properties

SPOKEN = ["es", "fr", "it", "pt", "hi"]
FRAGMENTS = [
    "1", "21", "101", "1.234", "1.234,5", "3,14", "3.14", "0,05", "007", "-5", "−3", "10-20", "10–20",
    "12/03/2024", "1/1/99", "2024-03-12", "14:30", "9:05", "14h30", "14 h", "alle 14.30", "10:30 a. m.",
    "9 p. m.", "12,50 €", "€12.50", "$5", "R$ 10,00", "₹500", "Rs. 1,00,000", "5 millones €", "50 %", "50%",
    "1º", "2ª", "3.er", "1.os", "1°", "25°", "30 °C", "1er", "1re", "2e", "2ème", "2nd", "XXIe", "Ier",
    "5वाँ", "21वीं", "1ला", "1,5 km", "Sr.", "Dra.", "M.", "Mme", "Dr", "Sig.ra", "Dott.", "etc.", "ecc.",
    "p. ej.", "p. ex.", "c.-à-d.", "n.º 5", "डॉ.", "García", "Dupont", "de", "mayo", "mai", "maio", "años",
    "libro", "página", "—", "--", "...", "«", "»", "“", "(", ",", ".", "!", "&", "+", "=", "×",
    "1999", "1947", "१२३", "1 234", "10\u00a0000", "1,234,567", "192.168.0.1", "1,2,3", "A4", "3D",
    "99999999999999999999", "0",
]  # fmt: skip
CHARACTERS = list("0123456789.,:;/-%€$₹ºª° hemrRsSMDpवींला०१−–") + ["\u00a0"]


@given(st.sampled_from(SPOKEN), st.text(alphabet=st.sampled_from(CHARACTERS), max_size=40))
def test_any_text_gives_text(language: str, text: str) -> None:
    assert isinstance(normalize_for(text, language), str)


@given(st.sampled_from(SPOKEN), st.lists(st.sampled_from(FRAGMENTS), max_size=8))
def test_idempotent_on_fragments(language: str, fragments: list[str]) -> None:
    once = normalize_for(" ".join(fragments), language)
    assert normalize_for(once, language) == once
