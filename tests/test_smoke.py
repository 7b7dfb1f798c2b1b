async def test_sign_in_in_process(api):
    token = await api.sign_in("jane@acme.com")
    r = await api.get("/whoami", token)
    assert r.status_code == 200
    assert "email=jane@acme.com" in r.text


async def test_sign_in_live(live):
    api, server = live
    token = await api.sign_in("jane@acme.com")
    r = await api.get("/whoami", token)
    assert r.status_code == 200, r.text
