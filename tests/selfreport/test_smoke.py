from selfreport.journey import consent_to_all, fill_all, send


def test_smoke(client, project, no_fill_delay):
    r = client.get("/report/")
    assert r.status_code == 200, r.content[:500]
    r = consent_to_all(client)
    assert r.status_code == 302, r.content.decode()[:3000]
    case = fill_all(client)
    code = send(client)
    assert code
    r = client.get("/report/mine/pdf/")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
