-- Bulk load of the benchmark database, with generate_series in the server (no row goes through Python).
--
-- Run by benchmarks/run through psql on a freshly migrated database, with these variables:
--   cases      number of cases                        (full 1,000,000; small 100,000)
--   officers   number of officers (and their users)   (full   200,000; small  20,000)
--   agencies   number of agencies                     (full     2,000; small     200)
--   reviewers  number of staff reviewers               (20)
-- Per-agency density is the same at both scales (100 officers and 500 cases per agency, 5 cases per
-- officer), so the growth from small to full measures the size of the tables alone.
--
-- Shape of the data, per case i (1..cases):
--   officer o = ((i-1) % officers) + 1 (user id = officer id = o), agency of o = ((o-1) / 100) + 1;
--   request type freeze (even i) or preservation (odd i); status: 20% open (submitted, in review),
--   the rest fulfilled, declined or closed;
--   a clock for every case: a freeze (even) or a preservation hold (odd), 30% active and ending in
--   20-60 days (beyond every reminder window), the rest lifted/lapsed in the past;
--   2 documents (metadata only, no file), 1 subject (a wallet), 1 audit event (case.submitted);
--   object permissions as intake and sharing grant them: the officer view/respond/share (3 rows), a
--   colleague of the same agency view/respond (2 rows) => 5 rows per case; the agency's supervisors
--   group view (1 group row per case). The first officer of each agency is its supervisor.
\set ON_ERROR_STOP on
SET synchronous_commit = off;
SET maintenance_work_mem = '1GB';
SET work_mem = '256MB';
-- Foreign keys are enforced by triggers; the generated ids are consistent by construction, so the
-- checks (and the append-only trigger of the audit trail, which only refuses UPDATE/DELETE) are skipped.
SET session_replication_role = replica;
\timing on

-- The trigram (GIN) indexes of the staff searches are built after the load, as a restore builds its
-- indexes: kept up row by row, they made the load five times slower. Their definitions are the
-- migrations' (cases.0009, core.0006), read back from the catalogue.
CREATE TEMP TABLE bench_deferred_index AS
  SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexdef LIKE '%gin_trgm_ops%';
SELECT format('DROP INDEX %I', indexname) FROM bench_deferred_index \gexec

\echo '-- agencies'
INSERT INTO access_agency (id, name, kind, country, jurisdiction, created_at)
SELECT a, 'Agency ' || a, (ARRAY['police','prosecutor','court','regulator'])[1 + a % 4],
       (ARRAY['DE','FR','GB','US','NL','ES','IT','BR','JP','SG'])[1 + a % 10], 'Jurisdiction ' || a,
       now() - interval '3 years'
FROM generate_series(1, :agencies) AS a;

\echo '-- users (officers, then staff reviewers)'
INSERT INTO access_user (id, password, last_login, is_superuser, first_name, last_name, is_staff, is_active,
                         date_joined, email, full_name, time_zone, may_contact_agencies)
SELECT u, '!', NULL, false, '', '', false, true, now() - interval '2 years',
       'officer' || u || '@agency' || (((u - 1) / 100) + 1) || '.example.gov', 'Officer ' || u, 'UTC', false
FROM generate_series(1, :officers) AS u;
INSERT INTO access_user (id, password, last_login, is_superuser, first_name, last_name, is_staff, is_active,
                         date_joined, email, full_name, time_zone, may_contact_agencies)
SELECT :officers + r, '!', NULL, false, '', '', true, true, now() - interval '2 years',
       'reviewer' || r || '@leors.example', 'Reviewer ' || r, 'UTC', false
FROM generate_series(1, :reviewers) AS r;

\echo '-- officers'
INSERT INTO access_officer (id, user_id, agency_id, application_id, rank_title, status, is_supervisor, approved_at,
                            access_expires_at, suspended_at)
SELECT o, o, ((o - 1) / 100) + 1, NULL, 'Detective', 'active', (o - 1) % 100 = 0, now() - interval '30 days',
       now() + interval '300 days', NULL
FROM generate_series(1, :officers) AS o;

\echo '-- supervisors groups and memberships'
INSERT INTO auth_group (name) SELECT 'agency:' || a || ':supervisors' FROM generate_series(1, :agencies) AS a;
CREATE TEMP TABLE bench_agency_group AS
SELECT split_part(name, ':', 2)::bigint AS agency_id, id AS group_id FROM auth_group WHERE name LIKE 'agency:%:supervisors';
CREATE UNIQUE INDEX ON bench_agency_group (agency_id);
INSERT INTO access_user_groups (user_id, group_id)
SELECT o.user_id, g.group_id FROM access_officer o JOIN bench_agency_group g ON g.agency_id = o.agency_id
WHERE o.is_supervisor;

\echo '-- cases'
INSERT INTO cases_case (
    id, reference, request_type, status, submission_key, submitted_at, title, request_text, text_language,
    text_language_confidence, case_reference, data_requested, period_from, period_to, has_non_disclosure_instruction,
    non_disclosure_until, freeze_duration_days, assets_description, check_issuing_authority, check_jurisdiction,
    check_signature_or_seal, check_dates, check_subject_identifiers, check_scope, checklist_notes,
    checklist_updated_at, decided_at, decision_reasons, notification_decision, notified_at,
    notification_waiver_reason, notification_decided_at, closed_at, agency_id, assigned_to_id,
    checklist_updated_by_id, decided_by_id, extends_case_id, notification_decided_by_id, officer_id,
    submitted_by_id, on_hold_at, on_hold_reason)
SELECT i,
       'LEORS-2025-' || lpad(i::text, 7, '0'),
       CASE WHEN i % 2 = 0 THEN 'freeze' ELSE 'preservation' END,
       CASE WHEN i % 10 = 0 THEN 'submitted' WHEN i % 10 = 1 THEN 'in_review'
            WHEN i % 10 = 3 THEN 'fulfilled' WHEN i % 10 = 5 THEN 'declined' ELSE 'closed' END,
       md5(i::text),
       now() - interval '1 hour' - ((:cases - i) * interval '90 seconds'),
       'Request ' || i || ' about a wallet used in a fraud',
       'We are investigating a fraud in which victims were persuaded to send cryptocurrency to the wallet listed '
           || 'below. We request the preservation or freeze of the account, under the attached order ' || i || '.',
       'en', 0.97, 'OP-' || i, '', NULL, NULL, NULL, NULL,
       CASE WHEN i % 2 = 0 THEN 30 END, '',
       i % 10 <> 0, i % 10 <> 0, i % 10 <> 0, i % 10 <> 0, i % 10 <> 0, i % 10 <> 0, '',
       NULL, CASE WHEN i % 10 NOT IN (0, 1) THEN now() - ((:cases - i) * interval '90 seconds') END, '',
       '', NULL, '', NULL, CASE WHEN i % 10 NOT IN (0, 1, 3, 5) THEN now() - ((:cases - i) * interval '80 seconds') END,
       ((((i - 1) % :officers)) / 100) + 1,
       CASE WHEN i % 10 <> 0 THEN :officers + 1 + i % :reviewers END,
       NULL, NULL, NULL, NULL,
       ((i - 1) % :officers) + 1, ((i - 1) % :officers) + 1, NULL, ''
FROM generate_series(1, :cases) AS i;

\echo '-- subjects (1 per case)'
INSERT INTO cases_subjectidentifier (id, case_id, kind, chain, value, normalized)
SELECT i, i, 'wallet', 'eth', '0x' || md5(i::text) || '00000000', '0x' || md5(i::text) || '00000000'
FROM generate_series(1, :cases) AS i;

\echo '-- documents (2 per case, metadata only)'
INSERT INTO cases_casedocument (
    id, case_id, role, document_type, issuing_authority, issued_on, document_reference, translator_certification,
    file, original_name, content_type, size, sha256, uploaded_at, language_status, language, language_confidence,
    language_cleared_at, language_cleared_as, language_override_reason, verified_at, language_cleared_by_id,
    translation_of_id, uploaded_by_id, verified_by_id, message_id)
SELECT d, c.id, 'legal_process', CASE WHEN d % 2 = 0 THEN 'court_order' ELSE 'warrant' END, 'Court of ' || c.agency_id,
       NULL, 'T' || d, '', 'cases/' || c.id || '/' || md5(d::text) || '.pdf', 'order-' || d || '.pdf',
       'application/pdf', 120000 + d % 5000, md5(d::text) || md5((d + 1)::text), c.submitted_at,
       CASE WHEN d % 50 = 0 THEN 'no_text' ELSE 'english' END, CASE WHEN d % 50 = 0 THEN '' ELSE 'en' END,
       CASE WHEN d % 50 = 0 THEN NULL ELSE 0.97 END,
       NULL, '', '', NULL, NULL, NULL, c.submitted_by_id, NULL, NULL
FROM generate_series(1, :cases * 2) AS d
JOIN cases_case c ON c.id = ((d - 1) / 2) + 1;

\echo '-- clocks: a freeze (even case) or a preservation hold (odd case) on every case'
INSERT INTO cases_freeze (id, case_id, status, stated_days, granted_days, longer_confirmed, longer_passage,
                          activated_at, activated_by_id, expires_at, extension_count, lifted_at, lifted_by_id,
                          lift_reason, lift_note)
SELECT i / 2, i, CASE WHEN i % 10 < 3 THEN 'active' ELSE 'lifted' END, 30, 30, false, '',
       now() - interval '10 days', :officers + 1,
       CASE WHEN i % 10 < 3 THEN now() + interval '20 days' + (i % 40) * interval '1 day'
            ELSE now() - interval '1 day' - (i % 900) * interval '1 day' END,
       0, CASE WHEN i % 10 < 3 THEN NULL ELSE now() - interval '1 day' END, NULL,
       CASE WHEN i % 10 < 3 THEN '' ELSE 'expired' END, ''
FROM generate_series(2, :cases, 2) AS i;
INSERT INTO cases_preservationhold (id, case_id, status, started_at, expires_at, extension_count, lapsed_at)
SELECT (i + 1) / 2, i, CASE WHEN i % 10 < 3 THEN 'active' ELSE 'lapsed' END, now() - interval '40 days',
       CASE WHEN i % 10 < 3 THEN now() + interval '20 days' + (i % 40) * interval '1 day'
            ELSE now() - interval '1 day' - (i % 900) * interval '1 day' END,
       0, CASE WHEN i % 10 < 3 THEN NULL ELSE now() - interval '1 day' END
FROM generate_series(1, :cases, 2) AS i;

\echo '-- object permissions: 5 user rows per case (officer view/respond/share, colleague view/respond)'
CREATE TEMP TABLE bench_perm AS
SELECT p.codename, p.id FROM auth_permission p JOIN django_content_type ct ON ct.id = p.content_type_id
WHERE ct.app_label = 'cases' AND ct.model = 'case' AND p.codename IN ('view_case', 'respond_case', 'share_case');
INSERT INTO cases_caseuserobjectpermission (user_id, permission_id, content_object_id)
SELECT o.o, p.id, c.i
FROM generate_series(1, :cases) AS c(i)
CROSS JOIN LATERAL (SELECT ((c.i - 1) % :officers) + 1 AS o) AS o
CROSS JOIN bench_perm p;
INSERT INTO cases_caseuserobjectpermission (user_id, permission_id, content_object_id)
SELECT ((o.o - 1) / 100) * 100 + ((o.o - 1 + 1) % 100) + 1, p.id, c.i
FROM generate_series(1, :cases) AS c(i)
CROSS JOIN LATERAL (SELECT ((c.i - 1) % :officers) + 1 AS o) AS o
CROSS JOIN bench_perm p
WHERE p.codename IN ('view_case', 'respond_case');

\echo '-- group permissions: the agency supervisors see every case of the agency (1 row per case)'
INSERT INTO cases_casegroupobjectpermission (group_id, permission_id, content_object_id)
SELECT g.group_id, p.id, c.id
FROM cases_case c JOIN bench_agency_group g ON g.agency_id = c.agency_id
CROSS JOIN bench_perm p WHERE p.codename = 'view_case';

\echo '-- audit trail: one event per case (case.submitted); hashes are placeholders (the chain is not verified here)'
INSERT INTO core_auditevent (id, created_at, actor_id, actor_label, action, object_type, object_id, object_repr,
                             changes, ip, user_agent, prev_hash, hash)
SELECT c.id, c.submitted_at, c.submitted_by_id, 'officer' || c.submitted_by_id || '@example.gov', 'case.submitted',
       'cases.case', c.id::text, c.reference, '{"request_type": "freeze"}'::jsonb, NULL, 'bench',
       md5((c.id - 1)::text) || md5(c.id::text), md5(c.id::text) || md5((c.id - 1)::text)
FROM cases_case c;

SET session_replication_role = origin;

\echo '-- the deferred trigram indexes'
SELECT indexdef FROM bench_deferred_index \gexec

\echo '-- sequences'
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['access_agency', 'access_user', 'access_officer', 'auth_group', 'access_user_groups',
                           'cases_case', 'cases_subjectidentifier', 'cases_casedocument', 'cases_freeze',
                           'cases_preservationhold', 'cases_caseuserobjectpermission',
                           'cases_casegroupobjectpermission', 'core_auditevent'] LOOP
    EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, ''id''), (SELECT coalesce(max(id), 0) + 1 FROM %I), false)', t, t);
  END LOOP;
END $$;
