"""Subscriber lists as other tools and spreadsheets export them (issue 15 point 5)."""

from __future__ import annotations

#: German Excel, "CSV (Trennzeichen-getrennt)": semicolons, Windows-1252, German dates, CRLF.
GERMAN_EXCEL = (
    "email;consented_at;confirmed_at;ip;source\r\n"
    "jürgen.mueller@example.org;;;;\r\n"  # a mailbox name beyond ASCII: refused (no SMTPUTF8)
    "kunde@bäckerei-müller.de;03.06.2024 12:00;03.06.2024 12:05;192.0.2.10;Gewinnspiel Bäckerei\r\n"
    "stammkunde@example.org;01.02.2024 08:00;01.02.2024 08:01;;Ladentheke „Süßes“\r\n"
    "neu@example.org;;;;Flyer\r\n"
)

#: Mailchimp's audience export ("Export Audience", subscribed members): times in UTC.
MAILCHIMP = (
    '"Email Address","First Name","Last Name","Address","Phone Number","MEMBER_RATING","OPTIN_TIME",'
    '"OPTIN_IP","CONFIRM_TIME","CONFIRM_IP","LATITUDE","LONGITUDE","GMTOFF","DSTOFF","TIMEZONE","CC",'
    '"REGION","LAST_CHANGED","LEID","EUID","NOTES","TAGS"\n'
    '"anna@example.org","Anna","Müller","","",2,"2024-06-03 10:00:00","203.0.113.5","2024-06-03 10:05:00",'
    '"198.51.100.7","52.52","13.40","1","2","Europe/Berlin","DE","BE","2024-06-03 10:05:00","1234","abcd","",'
    '"Kunden, Newsletter"\n'
    '"bernd@example.org","Bernd","","","",1,"2024-07-01 09:00:00","203.0.113.9","","","","","","","","","",'
    '"2024-07-01 09:00:00","1235","abce","",""\n'
    '"carla@example.org","Carla","","","",3,"","","2023-01-05 07:30:00","198.51.100.8","","","","","","","",'
    '"2023-01-05 07:30:00","1236","abcf","",""\n'
)

MAILCHIMP_UNSUBSCRIBED = (
    '"Email Address","First Name","MEMBER_RATING","OPTIN_TIME","OPTIN_IP","CONFIRM_TIME","CONFIRM_IP",'
    '"UNSUB_TIME","UNSUB_CAMPAIGN_TITLE","UNSUB_REASON"\n'
    '"gone@example.org","Gone",1,"2024-01-01 10:00:00","","2024-01-01 10:01:00","","2024-03-01 10:00:00","",""\n'
)

#: listmonk's subscriber export.
LISTMONK = (
    "uuid,email,name,attributes,status,created_at,updated_at\n"
    '6a1b0c5e-2f0a-4a39-9b7a-0f5f5d7c1a01,lisa@example.org,Lisa,"{""city"": ""Köln""}",enabled,'
    "2024-04-02 09:15:00.123456+00,2024-04-02 09:15:00.123456+00\n"
    "6a1b0c5e-2f0a-4a39-9b7a-0f5f5d7c1a02,spam@example.org,Spam,{},blocklisted,"
    "2024-04-03 10:00:00+00,2024-04-04 10:00:00+00\n"
)
