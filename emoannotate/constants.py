"""Fixed sizes of one analysis window: time, frames, faces, audio and its features.

Derived sizes are computed from the base ones, so a bad combination fails at import.
"""

# --- Time -------------------------------------------------------------------------------
WINDOW_SECONDS = 3.6  # s, one analysis window (the paper's sample length)
FRAMES_PER_WINDOW = 15  # video frames taken from each window, evenly spaced
FRAME_INTERVAL = WINDOW_SECONDS / FRAMES_PER_WINDOW  # s between sampled frames: 0.24
MIN_WINDOW_SECONDS = 1.0  # s, a last partial window shorter than this is "too short"

# --- Faces ------------------------------------------------------------------------------
FACE_SIZE = 224  # px, side of the square RGB face crop fed to the face backbone
# Whose face a window's row reads: the person speaking (default), the largest face of each frame
# (the rule before people were followed), or every person (a row each).
FACES_SPEAKER, FACES_LARGEST, FACES_ALL = "speaker", "largest", "all"
FACE_MODES = (FACES_SPEAKER, FACES_LARGEST, FACES_ALL)

# --- Audio ------------------------------------------------------------------------------
SAMPLE_RATE = 22050  # Hz, mono
WINDOW_SAMPLES = round(WINDOW_SECONDS * SAMPLE_RATE)  # samples per window: 79,380
HOP_LENGTH = 512  # samples between feature frames
N_FFT = 2048  # samples per STFT frame
N_AUDIO_FRAMES = 1 + WINDOW_SAMPLES // HOP_LENGTH  # centred feature frames: 156
N_MFCC = 40
N_MELS = 128
N_CONTRAST = 7  # librosa spectral_contrast with n_bands=6 gives 6 + 1 rows
N_TONNETZ = 6
TONNETZ_TUNING = 0.0  # fractions of a chroma bin: the chroma of the Tonnetz is tuned to A4 = 440 Hz
N_AUDIO_FEATURES = N_MFCC + N_MELS + N_CONTRAST + N_TONNETZ  # 181
SILENCE_RMS = 1e-4  # RMS (full scale = 1.0) under which a window's audio counts as absent

# --- Labels -----------------------------------------------------------------------------
EMOTIONS = ("calm", "happiness", "sadness", "anger", "fear", "disgust", "surprise")
N_EMOTIONS = len(EMOTIONS)

# --- Inputs -----------------------------------------------------------------------------
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".flv", ".m4v", ".mpg", ".mpeg")
AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".m4a", ".ogg", ".aac")
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS + AUDIO_EXTENSIONS

assert WINDOW_SAMPLES == 79380, WINDOW_SAMPLES
assert N_AUDIO_FRAMES == 156, N_AUDIO_FRAMES
assert N_AUDIO_FEATURES == 181, N_AUDIO_FEATURES
assert abs(FRAME_INTERVAL - 0.24) < 1e-9
