"""The bot's own texts (errors, refusals, confirmations) in the user's locale."""

from __future__ import annotations

from typing import Any

SUPPORTED = ("en", "pl", "da", "ro", "de")

TEXTS: dict[str, dict[str, str]] = {
    "empty": {
        "en": "Your message is empty — please type a question or a task.",
        "pl": "Twoja wiadomość jest pusta — wpisz pytanie lub zadanie.",
        "da": "Din besked er tom — skriv et spørgsmål eller en opgave.",
        "ro": "Mesajul tău este gol — scrie o întrebare sau o sarcină.",
        "de": "Deine Nachricht ist leer — bitte gib eine Frage oder Aufgabe ein.",
    },
    "files_unsupported": {
        "en": "I can't read {files}: I read {supported} files (no images, archives or slides).",
        "pl": "Nie umiem odczytać {files}: czytam pliki {supported} (bez obrazów, archiwów i prezentacji).",
        "da": "Jeg kan ikke læse {files}: jeg læser {supported}-filer (ikke billeder, arkiver eller slides).",
        "ro": "Nu pot citi {files}: citesc fișiere {supported} (nu imagini, arhive sau prezentări).",
        "de": "{files} kann ich nicht lesen: Ich lese {supported}-Dateien (keine Bilder, Archive oder Folien).",
    },
    "files_too_large": {
        "en": "{files}: too large for me to read (the limit is {mb} MB per file).",
        "pl": "{files}: za duże, żebym je odczytał (limit to {mb} MB na plik).",
        "da": "{files}: for stor til, at jeg kan læse den (grænsen er {mb} MB pr. fil).",
        "ro": "{files}: prea mare ca să o pot citi (limita este {mb} MB pe fișier).",
        "de": "{files}: zu groß zum Lesen (erlaubt sind {mb} MB pro Datei).",
    },
    "files_too_slow": {
        "en": "{files}: reading it took longer than {seconds} s, so I stopped.",
        "pl": "{files}: odczyt trwał dłużej niż {seconds} s, więc go przerwałem.",
        "da": "{files}: det tog mere end {seconds} s at læse den, så jeg stoppede.",
        "ro": "{files}: citirea a durat mai mult de {seconds} s, așa că am oprit-o.",
        "de": "{files}: Das Lesen dauerte länger als {seconds} s, daher habe ich abgebrochen.",
    },
    "files_unreadable": {
        "en": "{files}: I found no text I could read (damaged, password-protected, or a scan without text).",
        "pl": "{files}: nie znalazłem tekstu do odczytania (plik uszkodzony, chroniony hasłem lub skan bez "
              "tekstu).",
        "da": "{files}: jeg fandt ingen tekst, jeg kunne læse (beskadiget, beskyttet med adgangskode eller en "
              "scanning uden tekst).",
        "ro": "{files}: nu am găsit text pe care să-l pot citi (fișier deteriorat, protejat cu parolă sau o "
              "scanare fără text).",
        "de": "{files}: Ich habe keinen lesbaren Text gefunden (beschädigt, passwortgeschützt oder ein Scan "
              "ohne Text).",
    },
    "files_not_fetched": {
        "en": "{files}: I could not download it. Please try again, or paste the text into your message.",
        "pl": "{files}: nie udało mi się go pobrać. Spróbuj ponownie albo wklej tekst do wiadomości.",
        "da": "{files}: jeg kunne ikke hente den. Prøv igen, eller indsæt teksten i din besked.",
        "ro": "{files}: nu am putut să-l descarc. Încearcă din nou sau lipește textul în mesaj.",
        "de": "{files}: Ich konnte die Datei nicht herunterladen. Versuche es erneut oder füge den Text in "
              "deine Nachricht ein.",
    },
    "files_too_many": {
        "en": "{files}: not read; I read up to {count} files and {chars} characters per message.",
        "pl": "{files}: nie odczytano; czytam do {count} plików i {chars} znaków na wiadomość.",
        "da": "{files}: ikke læst; jeg læser op til {count} filer og {chars} tegn pr. besked.",
        "ro": "{files}: necitit; citesc până la {count} fișiere și {chars} de caractere pe mesaj.",
        "de": "{files}: nicht gelesen; ich lese bis zu {count} Dateien und {chars} Zeichen pro Nachricht.",
    },
    "files_truncated": {
        "en": "{files}: long, so I read only the beginning (up to {pages} pages, {chars} characters).",
        "pl": "{files}: długi, więc przeczytałem tylko początek (do {pages} stron, {chars} znaków).",
        "da": "{files}: lang, så jeg læste kun begyndelsen (op til {pages} sider, {chars} tegn).",
        "ro": "{files}: lung, așa că am citit doar începutul (până la {pages} pagini, {chars} de caractere).",
        "de": "{files}: lang, daher habe ich nur den Anfang gelesen (bis zu {pages} Seiten, {chars} Zeichen).",
    },
    "thread_unread": {
        "en": "I could not read the earlier messages of this thread{why}; this answer is based on your message only.",
        "pl": "Nie udało mi się odczytać wcześniejszych wiadomości tego wątku{why}; odpowiadam tylko na Twoją "
              "wiadomość.",
        "da": "Jeg kunne ikke læse de tidligere beskeder i denne tråd{why}; svaret bygger kun på din besked.",
        "ro": "Nu am putut citi mesajele anterioare din acest fir{why}; răspunsul se bazează doar pe mesajul tău.",
        "de": "Die früheren Nachrichten dieses Threads konnte ich nicht lesen{why}; die Antwort beruht nur auf "
              "deiner Nachricht.",
    },
    "thread_partial": {
        "en": "I read only {count} of the earlier messages of this thread{why}.",
        "pl": "Przeczytałem tylko {count} wcześniejszych wiadomości tego wątku{why}.",
        "da": "Jeg læste kun {count} af de tidligere beskeder i denne tråd{why}.",
        "ro": "Am citit doar {count} dintre mesajele anterioare din acest fir{why}.",
        "de": "Ich habe nur {count} der früheren Nachrichten dieses Threads gelesen{why}.",
    },
    "thread_rate_limited": {
        "en": " (Slack limits how often apps may read threads; try again in a minute)",
        "pl": " (Slack ogranicza, jak często aplikacje mogą czytać wątki; spróbuj ponownie za minutę)",
        "da": " (Slack begrænser, hvor ofte apps må læse tråde; prøv igen om et minut)",
        "ro": " (Slack limitează cât de des pot aplicațiile să citească firele; încearcă din nou peste un minut)",
        "de": " (Slack begrenzt, wie oft Apps Threads lesen dürfen; versuche es in einer Minute erneut)",
    },
    "too_long": {
        "en": "Your message has {size} characters; the limit is {limit}. Please shorten it or send a summary.",
        "pl": "Twoja wiadomość ma {size} znaków; limit to {limit}. Skróć ją lub wyślij streszczenie.",
        "da": "Din besked har {size} tegn; grænsen er {limit}. Forkort den eller send et resumé.",
        "ro": "Mesajul tău are {size} caractere; limita este {limit}. Scurtează-l sau trimite un rezumat.",
        "de": "Deine Nachricht hat {size} Zeichen; erlaubt sind {limit}. Bitte kürze sie.",
    },
    "offline": {
        "en": "[offline mode — no provider keys configured] This {task} request would be answered by "
              "{model} ({region}, {tier}). {privacy} Set {env} to get real answers.",
        "pl": "[tryb offline — brak kluczy dostawców] To zadanie ({task}) obsłużyłby model {model} "
              "({region}, {tier}). {privacy} Ustaw {env}, aby dostawać prawdziwe odpowiedzi.",
        "da": "[offline-tilstand — ingen udbydernøgler] Denne {task}-forespørgsel ville blive besvaret af "
              "{model} ({region}, {tier}). {privacy} Sæt {env} for at få rigtige svar.",
        "ro": "[mod offline — fără chei de furnizor] Această cerere ({task}) ar primi răspuns de la "
              "{model} ({region}, {tier}). {privacy} Setează {env} pentru răspunsuri reale.",
        "de": "[Offline-Modus — keine Anbieter-Schlüssel] Diese {task}-Anfrage würde {model} "
              "({region}, {tier}) beantworten. {privacy} Setze {env} für echte Antworten.",
    },
    "offline_forced": {
        "en": "[offline mode — SWITCHBOARD_OFFLINE is set] This {task} request would be answered by "
              "{model} ({region}, {tier}). {privacy} Unset SWITCHBOARD_OFFLINE to get real answers.",
        "pl": "[tryb offline — ustawiono SWITCHBOARD_OFFLINE] To zadanie ({task}) obsłużyłby model {model} "
              "({region}, {tier}). {privacy} Usuń SWITCHBOARD_OFFLINE, aby dostawać prawdziwe odpowiedzi.",
        "da": "[offline-tilstand — SWITCHBOARD_OFFLINE er sat] Denne {task}-forespørgsel ville blive besvaret af "
              "{model} ({region}, {tier}). {privacy} Fjern SWITCHBOARD_OFFLINE for at få rigtige svar.",
        "ro": "[mod offline — SWITCHBOARD_OFFLINE este setat] Această cerere ({task}) ar primi răspuns de la "
              "{model} ({region}, {tier}). {privacy} Elimină SWITCHBOARD_OFFLINE pentru răspunsuri reale.",
        "de": "[Offline-Modus — SWITCHBOARD_OFFLINE ist gesetzt] Diese {task}-Anfrage würde {model} "
              "({region}, {tier}) beantworten. {privacy} Entferne SWITCHBOARD_OFFLINE für echte Antworten.",
    },
    "privacy_none": {
        "en": "No personal data found.", "pl": "Nie wykryto danych osobowych.",
        "da": "Ingen personoplysninger fundet.", "ro": "Nu s-au găsit date personale.",
        "de": "Keine personenbezogenen Daten gefunden.",
    },
    "privacy_pinned": {
        "en": "Personal data found ({types}): kept on {regions} models.",
        "pl": "Wykryto dane osobowe ({types}): tylko modele {regions}.",
        "da": "Personoplysninger fundet ({types}): kun {regions}-modeller.",
        "ro": "Date personale găsite ({types}): doar modele {regions}.",
        "de": "Personenbezogene Daten gefunden ({types}): nur {regions}-Modelle.",
    },
    "privacy_sticky": {
        "en": "No personal data in this message, but this conversation carried some earlier: kept on {regions} "
              "models.",
        "pl": "Ta wiadomość nie zawiera danych osobowych, ale ta rozmowa zawierała je wcześniej: tylko modele "
              "{regions}.",
        "da": "Ingen personoplysninger i denne besked, men samtalen indeholdt nogle tidligere: kun "
              "{regions}-modeller.",
        "ro": "Mesajul nu conține date personale, dar conversația a conținut mai devreme: doar modele {regions}.",
        "de": "Keine personenbezogenen Daten in dieser Nachricht, aber das Gespräch enthielt vorher welche: nur "
              "{regions}-Modelle.",
    },
    "privacy_unchecked": {
        "en": "The privacy check did not finish, so this is treated as personal data: kept on {regions} models.",
        "pl": "Sprawdzanie prywatności nie zakończyło się, więc traktuję to jak dane osobowe: tylko modele "
              "{regions}.",
        "da": "Privatlivstjekket blev ikke færdigt, så det behandles som personoplysninger: kun "
              "{regions}-modeller.",
        "ro": "Verificarea confidențialității nu s-a încheiat, așa că e tratată ca date personale: doar modele "
              "{regions}.",
        "de": "Die Datenschutzprüfung wurde nicht fertig, daher gilt dies als personenbezogen: nur "
              "{regions}-Modelle.",
    },
    "blocked": {
        "en": "I can't process this request: it contains {types}, which the company policy does not allow "
              "me to send to any model. Please remove that data and try again.",
        "pl": "Nie mogę przetworzyć tej prośby: zawiera {types}, czego polityka firmy nie pozwala wysłać "
              "do żadnego modelu. Usuń te dane i spróbuj ponownie.",
        "da": "Jeg kan ikke behandle denne forespørgsel: den indeholder {types}, som firmaets politik ikke "
              "tillader mig at sende til nogen model. Fjern oplysningerne og prøv igen.",
        "ro": "Nu pot procesa această cerere: conține {types}, pe care politica firmei nu îmi permite să "
              "le trimit niciunui model. Elimină aceste date și încearcă din nou.",
        "de": "Ich kann diese Anfrage nicht bearbeiten: Sie enthält {types}, die laut Firmenrichtlinie an "
              "kein Modell gehen dürfen. Bitte entferne diese Daten und versuche es erneut.",
    },
    "unavailable": {
        "en": "Sorry — every model I may use for this request is unavailable right now. Please try again "
              "in a few minutes.",
        "pl": "Przepraszam — wszystkie modele dozwolone dla tej prośby są teraz niedostępne. Spróbuj za "
              "kilka minut.",
        "da": "Beklager — alle modeller, jeg må bruge til denne forespørgsel, er utilgængelige lige nu. "
              "Prøv igen om et par minutter.",
        "ro": "Îmi pare rău — toate modelele permise pentru această cerere sunt indisponibile acum. "
              "Încearcă din nou în câteva minute.",
        "de": "Entschuldigung — alle Modelle, die ich für diese Anfrage nutzen darf, sind gerade nicht "
              "erreichbar. Bitte versuche es in ein paar Minuten erneut.",
    },
    "too_slow": {
        "en": "Sorry — no model I may use for this request finished an answer within {seconds} seconds, so I "
              "stopped waiting. Please try again in a few minutes.",
        "pl": "Przepraszam — żaden z modeli dozwolonych dla tej prośby nie udzielił odpowiedzi w ciągu {seconds} "
              "sekund, więc przestałem czekać. Spróbuj ponownie za kilka minut.",
        "da": "Beklager — ingen af de modeller, jeg må bruge til denne forespørgsel, nåede at svare inden for "
              "{seconds} sekunder, så jeg holdt op med at vente. Prøv igen om et par minutter.",
        "ro": "Îmi pare rău — niciun model permis pentru această cerere nu a terminat răspunsul în {seconds} "
              "secunde, așa că am încetat să aștept. Încearcă din nou în câteva minute.",
        "de": "Entschuldigung — keines der Modelle, die ich für diese Anfrage nutzen darf, hat innerhalb von "
              "{seconds} Sekunden geantwortet, deshalb habe ich aufgehört zu warten. Bitte versuche es in ein "
              "paar Minuten erneut.",
    },
    "credentials": {
        "en": "The model chosen for this request ({model}) is not configured: an administrator must set "
              "{env}.",
        "pl": "Model wybrany dla tej prośby ({model}) nie jest skonfigurowany: administrator musi ustawić "
              "{env}.",
        "da": "Modellen valgt til denne forespørgsel ({model}) er ikke konfigureret: en administrator skal "
              "sætte {env}.",
        "ro": "Modelul ales pentru această cerere ({model}) nu este configurat: un administrator trebuie "
              "să seteze {env}.",
        "de": "Das für diese Anfrage gewählte Modell ({model}) ist nicht eingerichtet: ein Administrator "
              "muss {env} setzen.",
    },
    "budget": {
        "en": "Your AI budget for this month is used up ({detail}). Ask an administrator to raise it.",
        "pl": "Twój miesięczny budżet na AI został wyczerpany ({detail}). Poproś administratora o zwiększenie.",
        "da": "Dit AI-budget for denne måned er brugt op ({detail}). Bed en administrator om at hæve det.",
        "ro": "Bugetul tău AI pentru luna aceasta s-a epuizat ({detail}). Cere unui administrator să-l mărească.",
        "de": "Dein KI-Budget für diesen Monat ist aufgebraucht ({detail}). Bitte einen Administrator, es "
              "zu erhöhen.",
    },
    "internal": {
        "en": "Sorry — something went wrong on my side. Your message is saved; please try again.",
        "pl": "Przepraszam — coś poszło nie tak po mojej stronie. Wiadomość została zapisana; spróbuj ponownie.",
        "da": "Beklager — noget gik galt hos mig. Din besked er gemt; prøv igen.",
        "ro": "Îmi pare rău — ceva nu a mers bine la mine. Mesajul tău este salvat; încearcă din nou.",
        "de": "Entschuldigung — bei mir ist etwas schiefgegangen. Deine Nachricht ist gespeichert; bitte "
              "versuche es erneut.",
    },
    "internal_unsaved": {
        "en": "Sorry — something went wrong on my side and I could not save your message. Please send it again.",
        "pl": "Przepraszam — coś poszło nie tak po mojej stronie i nie udało się zapisać wiadomości. Wyślij ją "
              "ponownie.",
        "da": "Beklager — noget gik galt hos mig, og jeg kunne ikke gemme din besked. Send den igen.",
        "ro": "Îmi pare rău — ceva nu a mers bine la mine și nu am putut salva mesajul tău. Trimite-l din nou.",
        "de": "Entschuldigung — bei mir ist etwas schiefgegangen, und ich konnte deine Nachricht nicht speichern. "
              "Bitte schick sie noch einmal.",
    },
    "db_down": {
        "en": "Sorry — I cannot reach my database right now, so I could not take this. Please try again in "
              "a minute.",
        "pl": "Przepraszam — nie mam teraz dostępu do swojej bazy danych, więc nie mogłem tego przyjąć. "
              "Spróbuj ponownie za minutę.",
        "da": "Beklager — jeg kan ikke nå min database lige nu, så jeg kunne ikke tage imod dette. Prøv igen "
              "om et minut.",
        "ro": "Îmi pare rău — nu pot accesa baza de date acum, așa că nu am putut prelua cererea. Încearcă "
              "din nou peste un minut.",
        "de": "Entschuldigung — ich erreiche meine Datenbank gerade nicht und konnte das deshalb nicht "
              "annehmen. Bitte versuche es in einer Minute erneut.",
    },
    "recovered_sorry": {
        "en": "Sorry — I was restarted while answering this and the answer was lost. Your message is saved; "
              "please ask again.",
        "pl": "Przepraszam — zostałem zrestartowany podczas odpowiadania i odpowiedź przepadła. Wiadomość "
              "została zapisana; zapytaj ponownie.",
        "da": "Beklager — jeg blev genstartet, mens jeg svarede, og svaret gik tabt. Din besked er gemt; "
              "spørg igen.",
        "ro": "Îmi pare rău — am fost repornit în timp ce răspundeam și răspunsul s-a pierdut. Mesajul tău "
              "este salvat; întreabă din nou.",
        "de": "Entschuldigung — ich wurde während der Antwort neu gestartet, und die Antwort ging verloren. "
              "Deine Nachricht ist gespeichert; bitte frag noch einmal.",
    },
    # --- Slack adapter ---------------------------------------------------------------------
    "slack_thinking": {
        "en": "_Thinking…_", "pl": "_Myślę…_", "da": "_Tænker…_", "ro": "_Mă gândesc…_", "de": "_Denke nach…_",
    },
    "slack_status": {
        "en": "is thinking…", "pl": "myśli…", "da": "tænker…", "ro": "se gândește…", "de": "denkt nach…",
    },
    "slack_loading": {  # assistant.threads.setStatus loading_messages, shown in turn while we work
        "en": "Checking for personal data…|Choosing the best allowed model…|Writing the answer…",
        "pl": "Sprawdzam dane osobowe…|Wybieram najlepszy dozwolony model…|Piszę odpowiedź…",
        "da": "Tjekker for persondata…|Vælger den bedste tilladte model…|Skriver svaret…",
        "ro": "Verific datele personale…|Aleg cel mai bun model permis…|Scriu răspunsul…",
        "de": "Prüfe auf personenbezogene Daten…|Wähle das beste erlaubte Modell…|Schreibe die Antwort…",
    },
    "slack_greeting": {
        "en": "Hi! I'm Switchboard, the company's assistant. Ask me anything, in your language: I send each "
              "request to the model that does it best, and personal data stays on EU or on-premise models.",
        "pl": "Cześć! Jestem Switchboard, asystent firmy. Pytaj o wszystko w swoim języku: każde zadanie "
              "kieruję do modelu, który robi je najlepiej, a dane osobowe zostają w modelach w UE lub lokalnych.",
        "da": "Hej! Jeg er Switchboard, virksomhedens assistent. Spørg mig om alt på dit eget sprog: jeg sender "
              "hver opgave til den model, der klarer den bedst, og persondata bliver på EU- eller lokale modeller.",
        "ro": "Salut! Sunt Switchboard, asistentul companiei. Întreabă-mă orice, în limba ta: trimit fiecare "
              "cerere modelului care o face cel mai bine, iar datele personale rămân pe modele din UE sau locale.",
        "de": "Hallo! Ich bin Switchboard, der Assistent des Unternehmens. Frag mich alles in deiner Sprache: "
              "Ich gebe jede Anfrage an das Modell, das sie am besten kann, und personenbezogene Daten bleiben "
              "bei Modellen in der EU oder im eigenen Haus.",
    },
    "slack_welcome": {
        "en": "Welcome! Write me here or start a new chat with me from the top bar. `/switchboard help` lists "
              "the commands; `/switchboard why` explains which model answered and why.",
        "pl": "Witaj! Napisz do mnie tutaj albo zacznij nowy czat z górnego paska. `/switchboard help` pokazuje "
              "polecenia; `/switchboard why` wyjaśnia, który model odpowiedział i dlaczego.",
        "da": "Velkommen! Skriv til mig her, eller start en ny chat med mig fra topbjælken. `/switchboard help` "
              "viser kommandoerne; `/switchboard why` forklarer, hvilken model der svarede og hvorfor.",
        "ro": "Bine ai venit! Scrie-mi aici sau începe un chat nou cu mine din bara de sus. `/switchboard help` "
              "arată comenzile; `/switchboard why` explică ce model a răspuns și de ce.",
        "de": "Willkommen! Schreib mir hier oder starte oben einen neuen Chat mit mir. `/switchboard help` zeigt "
              "die Befehle; `/switchboard why` erklärt, welches Modell geantwortet hat und warum.",
    },
    "teams_welcome": {
        "en": "In a chat with me, just write; in a channel or group chat, @mention me. Attach a PDF, Word, Excel, "
              "CSV or text file and I read it. Type `help` for the commands, `why` to hear which model answered "
              "and why; rate answers with 👍/👎.",
        "pl": "W czacie ze mną po prostu pisz; na kanale lub w czacie grupowym oznacz mnie (@). Załącz plik PDF, "
              "Word, Excel, CSV lub tekstowy, a go przeczytam. Wpisz `help`, aby zobaczyć polecenia, `why`, aby "
              "dowiedzieć się, który model odpowiedział i dlaczego; oceniaj odpowiedzi 👍/👎.",
        "da": "I en chat med mig skriver du bare; i en kanal eller gruppechat @nævner du mig. Vedhæft en PDF-, "
              "Word-, Excel-, CSV- eller tekstfil, så læser jeg den. Skriv `help` for kommandoerne, `why` for at "
              "høre, hvilken model der svarede og hvorfor; bedøm svarene med 👍/👎.",
        "ro": "Într-un chat cu mine, scrie pur și simplu; pe un canal sau într-un chat de grup, menționează-mă (@). "
              "Atașează un fișier PDF, Word, Excel, CSV sau text și îl citesc. Scrie `help` pentru comenzi, `why` "
              "ca să afli ce model a răspuns și de ce; evaluează răspunsurile cu 👍/👎.",
        "de": "Im Chat mit mir schreibst du einfach; in einem Kanal oder Gruppenchat @erwähnst du mich. Hänge eine "
              "PDF-, Word-, Excel-, CSV- oder Textdatei an, und ich lese sie. Mit `help` siehst du die Befehle, mit "
              "`why`, welches Modell geantwortet hat und warum; bewerte Antworten mit 👍/👎.",
    },
    "slack_prompts_title": {
        "en": "Try for example", "pl": "Na przykład", "da": "Prøv for eksempel", "ro": "Încearcă de exemplu",
        "de": "Probier zum Beispiel",
    },
    # suggested prompts, one per task class (title|message); Slack shows at most four
    "slack_prompt_creative": {
        "en": "Draft an offer|Write a short, friendly offer for a customer who asked about our services.",
        "pl": "Napisz ofertę|Napisz krótką, przyjazną ofertę dla klienta, który pytał o nasze usługi.",
        "da": "Skriv et tilbud|Skriv et kort, venligt tilbud til en kunde, der har spurgt til vores ydelser.",
        "ro": "Scrie o ofertă|Scrie o ofertă scurtă și prietenoasă pentru un client care a întrebat de "
              "serviciile noastre.",
        "de": "Angebot entwerfen|Schreib ein kurzes, freundliches Angebot für einen Kunden, der nach unseren "
              "Leistungen gefragt hat.",
    },
    "slack_prompt_analysis": {
        "en": "Weigh options|Compare leasing and buying a delivery van for a small firm: costs and risks.",
        "pl": "Porównaj opcje|Porównaj leasing i zakup auta dostawczego dla małej firmy: koszty i ryzyka.",
        "da": "Sammenlign|Sammenlign leasing og køb af en varevogn for en lille virksomhed: omkostninger og risici.",
        "ro": "Compară opțiuni|Compară leasingul și cumpărarea unei dubițe pentru o firmă mică: costuri și "
              "riscuri.",
        "de": "Optionen abwägen|Vergleiche Leasing und Kauf eines Lieferwagens für eine kleine Firma: Kosten "
              "und Risiken.",
    },
    "slack_prompt_translation": {
        "en": "Translate|Translate into German: Thank you for your order, it ships on Monday.",
        "pl": "Przetłumacz|Przetłumacz na angielski: Dziękujemy za zamówienie, wysyłka w poniedziałek.",
        "da": "Oversæt|Oversæt til engelsk: Tak for din ordre, den sendes mandag.",
        "ro": "Traduce|Tradu în engleză: Mulțumim pentru comandă, pleacă luni.",
        "de": "Übersetzen|Übersetze ins Englische: Danke für Ihre Bestellung, sie wird am Montag versendet.",
    },
    "slack_prompt_code": {
        "en": "Write code|Write an SQL query that lists last month's orders per customer.",
        "pl": "Napisz kod|Napisz zapytanie SQL, które pokaże zamówienia z zeszłego miesiąca dla każdego klienta.",
        "da": "Skriv kode|Skriv en SQL-forespørgsel, der viser sidste måneds ordrer pr. kunde.",
        "ro": "Scrie cod|Scrie o interogare SQL care listează comenzile de luna trecută pe client.",
        "de": "Code schreiben|Schreib eine SQL-Abfrage, die die Bestellungen des letzten Monats je Kunde "
              "auflistet.",
    },
    "slack_footer_cached": {"en": "from cache", "pl": "z pamięci podręcznej", "da": "fra cache",
                            "ro": "din cache", "de": "aus dem Cache"},
    "slack_footer_fallback": {"en": "fallback", "pl": "model zapasowy", "da": "reservemodel",
                              "ro": "model de rezervă", "de": "Ersatzmodell"},
    "slack_footer_offline": {"en": "offline", "pl": "offline", "da": "offline", "ro": "offline",
                             "de": "offline"},
    "slack_feedback_thanks": {
        "en": "Thanks for the feedback!", "pl": "Dziękuję za opinię!", "da": "Tak for din feedback!",
        "ro": "Mulțumesc pentru feedback!", "de": "Danke für dein Feedback!",
    },
    "slack_feedback_gone": {
        "en": "That answer no longer exists, so I could not store your vote.",
        "pl": "Ta odpowiedź już nie istnieje, więc nie zapisałem Twojej oceny.",
        "da": "Det svar findes ikke længere, så jeg kunne ikke gemme din stemme.",
        "ro": "Acest răspuns nu mai există, așa că nu am putut salva votul tău.",
        "de": "Diese Antwort gibt es nicht mehr, daher konnte ich deine Bewertung nicht speichern.",
    },
    "slack_not_admin": {
        "en": "Sorry, only Switchboard admins can use `{command}`. Try `/switchboard help` for what you can do.",
        "pl": "Przepraszam, tylko administratorzy Switchboard mogą używać `{command}`. Wpisz "
              "`/switchboard help`, aby zobaczyć dostępne polecenia.",
        "da": "Beklager, kun Switchboard-administratorer kan bruge `{command}`. Prøv `/switchboard help` "
              "for at se, hvad du kan.",
        "ro": "Îmi pare rău, doar administratorii Switchboard pot folosi `{command}`. Încearcă "
              "`/switchboard help` pentru comenzile disponibile.",
        "de": "Entschuldigung, nur Switchboard-Admins dürfen `{command}` verwenden. Mit `/switchboard help` "
              "siehst du, was du tun kannst.",
    },
    "slack_forgotten": {
        "en": "Done: I erased {erased} of your messages and every record of your conversations with me.",
        "pl": "Gotowe: usunąłem {erased} Twoich wiadomości i wszystkie zapisy naszych rozmów.",
        "da": "Færdig: Jeg har slettet {erased} af dine beskeder og alle optegnelser om vores samtaler.",
        "ro": "Gata: am șters {erased} dintre mesajele tale și toate înregistrările conversațiilor noastre.",
        "de": "Erledigt: Ich habe {erased} deiner Nachrichten und alle Aufzeichnungen unserer Gespräche gelöscht.",
    },
    # --- Teams adapter ---------------------------------------------------------------------
    "teams_working": {
        "en": "Working on it…", "pl": "Pracuję nad tym…", "da": "Arbejder på det…", "ro": "Lucrez la asta…",
        "de": "Ich arbeite daran…",
    },
    "teams_still_working": {
        "en": "This takes a little longer — I will post the answer here when it is ready.",
        "pl": "To potrwa trochę dłużej — opublikuję tu odpowiedź, gdy będzie gotowa.",
        "da": "Det tager lidt længere tid — jeg poster svaret her, når det er klar.",
        "ro": "Durează puțin mai mult — voi posta răspunsul aici când este gata.",
        "de": "Das dauert etwas länger — ich poste die Antwort hier, sobald sie fertig ist.",
    },
    "teams_feedback_thanks": {
        "en": "Thanks for the feedback!", "pl": "Dziękuję za opinię!", "da": "Tak for din feedback!",
        "ro": "Mulțumesc pentru feedback!", "de": "Danke für dein Feedback!",
    },
    "teams_feedback_gone": {
        "en": "That answer no longer exists, so I could not store your vote.",
        "pl": "Ta odpowiedź już nie istnieje, więc nie zapisałem Twojej oceny.",
        "da": "Det svar findes ikke længere, så jeg kunne ikke gemme din stemme.",
        "ro": "Acest răspuns nu mai există, așa că nu am putut salva votul tău.",
        "de": "Diese Antwort gibt es nicht mehr, daher konnte ich deine Bewertung nicht speichern.",
    },
    "teams_not_admin": {
        "en": "Sorry, only Switchboard admins can use `{command}`. Type `help` for what you can do.",
        "pl": "Przepraszam, tylko administratorzy Switchboard mogą używać `{command}`. Wpisz `help`, aby "
              "zobaczyć dostępne polecenia.",
        "da": "Beklager, kun Switchboard-administratorer kan bruge `{command}`. Skriv `help` for at se, hvad "
              "du kan.",
        "ro": "Îmi pare rău, doar administratorii Switchboard pot folosi `{command}`. Scrie `help` pentru "
              "comenzile disponibile.",
        "de": "Entschuldigung, nur Switchboard-Admins dürfen `{command}` verwenden. Mit `help` siehst du, "
              "was du tun kannst.",
    },
    "teams_forgotten": {
        "en": "Done: I erased {erased} of your messages and every record of your conversations with me.",
        "pl": "Gotowe: usunąłem {erased} Twoich wiadomości i wszystkie zapisy naszych rozmów.",
        "da": "Færdig: Jeg har slettet {erased} af dine beskeder og alle optegnelser om vores samtaler.",
        "ro": "Gata: am șters {erased} dintre mesajele tale și toate înregistrările conversațiilor noastre.",
        "de": "Erledigt: Ich habe {erased} deiner Nachrichten und alle Aufzeichnungen unserer Gespräche "
              "gelöscht.",
    },
}


def language_of(locale: str) -> str:
    """'pl-PL', 'pl_PL', 'pl' → 'pl'; unknown locales fall back to English."""
    lang = locale.replace("_", "-").split("-")[0].lower()
    return lang if lang in SUPPORTED else "en"


def t(key: str, locale: str, **values: Any) -> str:
    table = TEXTS[key]
    return table.get(language_of(locale), table["en"]).format(**values)
