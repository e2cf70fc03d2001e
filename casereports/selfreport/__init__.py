"""Patients report their own case: a public start, e-consent, the patients' questionnaire,
save and return, receipt, withdrawal, and the central team's triage."""
