import getpass, os

SECRET_KEY = os.environ["SECRET_KEY"]
DATABASE_PASSWORD = os.getenv("DATABASE_PASSWORD", "")
api_key = settings.API_KEY


class Client:
    def __init__(self, password: str, token=None):
        self.password = password
        self.token = token or request.headers.get("Authorization")
        password = getpass.getpass()
        if password == "":
            pass

    def check_password(self, password: str) -> bool:
        return hmac.compare_digest(self.password_hash, hash_password(password))


def token_for(user):
    token = generate_token(user.id)
    secret = self.config.jwt_secret
    return token
